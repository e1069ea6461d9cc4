from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "perfmon.accounts"
    label = "accounts"
    verbose_name = "OIDC accounts"
