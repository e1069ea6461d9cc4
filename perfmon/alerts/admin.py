from urllib.parse import urlsplit

from django import forms
from django.contrib import admin, messages

from perfmon.alerts.models import (
    Alert,
    AlertState,
    ChannelKind,
    DeliveryAttempt,
    Notification,
    NotificationChannel,
)
from perfmon.alerts.notify import send_test_notification
from perfmon.alerts.services import acknowledge_alert, create_channel, delete_channel, update_channel
from perfmon.core.admin import OperatorAdmin, ServiceAdmin, ServiceForm, admin_link
from perfmon.core.errors import Conflict


@admin.register(Alert)
class AlertAdmin(OperatorAdmin):
    list_display = ["title", "kind", "state", "tenant", "monitor_link", "occurrences", "opened_at", "resolved_at"]
    list_filter = ["state", "kind", "tenant"]
    search_fields = ["title", "monitor__name", "tenant__slug"]
    list_select_related = ["monitor", "tenant"]
    date_hierarchy = "opened_at"
    actions = ["acknowledge"]

    readonly_fields = ["first_run_link", "last_run_link"]

    @admin.display(description="monitor")
    def monitor_link(self, alert):
        return admin_link(alert.monitor)

    @admin.display(description="first run")
    def first_run_link(self, alert):
        return admin_link(alert.first_run)

    @admin.display(description="last run")
    def last_run_link(self, alert):
        return admin_link(alert.last_run)

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request, queryset):
        # Through the one write path (locks the alert, keeps the first acknowledger), as the dashboard and API do.
        count = 0
        for alert in queryset.filter(state=AlertState.OPEN).select_related("tenant"):
            try:
                acknowledge_alert(tenant=alert.tenant, alert=alert, actor=request.user.get_username(),
                                  user=request.user)
            except Conflict:
                continue  # resolved meanwhile
            count += 1
        self.message_user(request, f"{count} alert(s) acknowledged.", messages.SUCCESS)


class ChannelForm(ServiceForm):
    # The signing secret can be set or replaced, never read back.
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                             help_text="HMAC-SHA256 key for webhook signatures; leave empty to keep the current one")

    class Meta:
        model = NotificationChannel
        fields = ["tenant", "name", "kind", "url", "secret", "email_to", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A Slack incoming webhook URL is the channel's credential: set or replaced, never read back.
        if self._keeps_url() and "url" in self.fields:
            self.initial["url"] = ""
            host = urlsplit(self.instance.url).netloc
            self.fields["url"].help_text = (f"Set ({host}/…, not shown: it is the channel's credential); "
                                            "leave empty to keep it")

    def _keeps_url(self) -> bool:
        return bool(self.instance.pk and self.instance.kind == ChannelKind.SLACK and self.instance.url)

    def clean_secret(self):
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")

    def clean_url(self):
        url = self.cleaned_data.get("url", "")
        kind = self.data.get("kind", self.instance.kind)
        return url or (self.instance.url if self._keeps_url() and kind == ChannelKind.SLACK else "")

    def create(self, values):
        tenant = values.pop("tenant")
        return create_channel(tenant=tenant, **values)

    def write(self, stored, changes):
        # Checked with what is kept, as for every caller: a webhook keeps a URL, e-mail its addresses.
        update_channel(tenant=stored.tenant, channel=stored, **changes)


@admin.register(NotificationChannel)
class NotificationChannelAdmin(ServiceAdmin):
    form = ChannelForm
    adds = True  # channels are set up here
    list_display = ["name", "kind", "tenant", "enabled", "created_at"]
    list_filter = ["kind", "enabled", "tenant"]
    search_fields = ["name", "tenant__slug", "url"]
    actions = ["send_test"]

    def get_readonly_fields(self, request, obj=None):
        # A channel stays with the tenant it was made for (its notifications are that tenant's).
        return ["tenant"] if obj is not None else []

    def delete_model(self, request, obj):
        delete_channel(tenant=obj.tenant, channel=obj)

    def delete_queryset(self, request, queryset):
        for channel in queryset.select_related("tenant"):
            delete_channel(tenant=channel.tenant, channel=channel)

    @admin.action(description="Send a test notification")
    def send_test(self, request, queryset):
        for channel in queryset:
            send_test_notification(channel)
        self.message_user(request, f"Test notification queued for {queryset.count()} channel(s).", messages.SUCCESS)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ["number", "attempted_at", "ok", "response_code", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Notification)
class NotificationAdmin(OperatorAdmin):
    list_display = ["event", "channel", "tenant", "status", "attempts", "created_at", "delivered_at", "alert_link"]
    list_filter = ["status", "event", "tenant"]
    search_fields = ["channel__name", "tenant__slug"]
    readonly_fields = ["tenant", "channel", "alert", "event", "payload", "status", "attempts", "delivered_at", "last_error"]
    inlines = [DeliveryAttemptInline]

    @admin.display(description="alert")
    def alert_link(self, notification):
        return admin_link(notification.alert)
