"""The dashboard's views: thin, tenant-scoped, calling selectors to read and services to write."""
