"""A small Keycloak-shaped OpenID provider for the test suite, built on django-oauth-toolkit.

Its own Django project (settings, URLs, SQLite in a temporary directory),
started as a subprocess by a session fixture (fixture.py) on a free port
of 127.0.0.1. It imports a Keycloak realm export (clients, users, realm
roles, user attributes, protocol mappers) and serves Keycloak's URL layout
under /realms/<realm>: the discovery document, the token endpoint
(password and authorization-code grants), /certs (JWKS), /userinfo and
/auth, issuing RS256 JWT access tokens with Keycloak's claims. Never
imported by perfmon.
"""
