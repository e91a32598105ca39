"""Admin forms for the retraction confirmation pages: retract, reclassify.

The services check roles again (they are the one entry point); these forms only
make the choice readable: hard delete is offered to tenant admins alone and
needs its own tick, and soft delete is refused up front where Gmail cannot do it.
"""

from __future__ import annotations

from typing import Any

from django import forms

from mailboxes.access import SecondFactorRequired, require_second_factor
from mailboxes.vocabulary import Action, Disposition, PolicyAction
from retraction.models import RetractionPolicy

RETRACT_ACTIONS = [Action.JUNK, Action.TRASH, Action.SOFT_DELETE, Action.HARD_DELETE]


class RetractForm(forms.Form):
    """Where the copies go; hard delete only with `allow_hard_delete` and an explicit tick."""

    # Not named "action": the changelist's own action form posts that name alongside.
    move_to = forms.ChoiceField(
        label="Move the copies to",
        choices=[(a.value, a.label) for a in RETRACT_ACTIONS],
        initial=Action.TRASH,
        widget=forms.RadioSelect,
    )
    confirm_hard_delete = forms.BooleanField(
        label="Yes, delete these copies for good",
        required=False,
        help_text="Hard delete cannot be undone: on Microsoft 365 only an administrator can "
        "recover the copies, on Gmail they are gone.",
    )

    def __init__(
        self,
        *args: Any,
        allow_hard_delete: bool = False,
        google_tenants: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.allow_hard_delete = allow_hard_delete
        self.google_tenants = google_tenants or []
        if not allow_hard_delete:
            # Not offered at all; a hand-made POST still meets clean_move_to.
            self.fields["move_to"].widget.choices = [
                (a.value, a.label) for a in RETRACT_ACTIONS if a != Action.HARD_DELETE
            ]
            del self.fields["confirm_hard_delete"]

    def clean_move_to(self) -> str:
        action = self.cleaned_data["move_to"]
        if action == Action.HARD_DELETE and not self.allow_hard_delete:
            raise forms.ValidationError(
                "Hard delete needs the tenant admin role on every tenant of the selection."
            )
        if action == Action.SOFT_DELETE and self.google_tenants:
            raise forms.ValidationError(
                "Google Workspace has no user-recoverable delete (for "
                f"{', '.join(self.google_tenants)}): choose trash instead."
            )
        return action

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("move_to") == Action.HARD_DELETE and not data.get("confirm_hard_delete"):
            self.add_error(
                "confirm_hard_delete",
                "Hard delete cannot be undone: tick this box to confirm it.",
            )
        return data


class ReclassifyForm(forms.Form):
    disposition = forms.ChoiceField(
        label="New disposition", choices=Disposition.choices, widget=forms.RadioSelect
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=500,
        help_text="Why (kept in the disposition history).",
        widget=forms.TextInput(attrs={"size": 60}),
    )


class PolicyForm(forms.ModelForm):
    """A policy change in the admin: making hard delete the live action needs a second factor.

    `actor` is set per request (RetractionPolicyAdmin.get_form); `policy_update` checks again.
    """

    actor: Any = None

    class Meta:
        model = RetractionPolicy
        fields = ["action", "enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        live_before = self.instance.effective_action == PolicyAction.HARD_DELETE
        live_after = data.get("enabled") and data.get("action") == PolicyAction.HARD_DELETE
        if live_after and not live_before:
            try:
                require_second_factor(self.actor)
            except SecondFactorRequired as exc:
                self.add_error("action", str(exc))
        return data
