"""Abstract bases shared by the domain apps."""

from __future__ import annotations

from django.db import models


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def save_changes(self, values: dict) -> list[str]:
        """Set the fields of ``values`` that differ and save only those (with ``updated_at``).

        Returns the names that changed; nothing is written when none did.
        """
        changed = [name for name, value in values.items() if getattr(self, name) != value]
        for name in changed:
            setattr(self, name, values[name])
        if changed:
            self.save(update_fields=[*changed, "updated_at"])
        return changed
