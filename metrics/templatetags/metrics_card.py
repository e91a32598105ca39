"""{% retractions_card %}: the Retractions card on the admin home page."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from metrics.admin import details_url
from metrics.forms import CardForm
from metrics.services.buckets import format_duration
from metrics.services.card import retractions_card as compute_card
from metrics.services.tally import REASONS

register = template.Library()


def format_percent(share: float | None) -> str:
    """A share (0..1) as the card shows it: "81.3 %"; "—" when there is nothing to share."""
    return "—" if share is None else f"{share * 100:.1f} %"


@register.inclusion_tag("metrics/card.html", takes_context=True)
def retractions_card(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    bound = any(key.startswith("card-") for key in request.GET)
    form = CardForm(request.GET if bound else None, user=request.user)
    if bound and not form.is_valid():
        return {"form": form, "card": None}
    start, end, tenant = form.interval()
    card = compute_card(user=request.user, start=start, end=end, tenant=tenant).as_dict()
    total = card["total"]

    def share(count: int) -> dict[str, Any]:
        return {"count": count, "percent": format_percent(count / total if total else None)}

    def latency(kind: str) -> dict[str, str]:
        data = card["time_to_retract"][kind]
        return {
            p: format_duration(data[p], open_ended=p in data["open_ended"]) for p in ("p50", "p95")
        }

    return {
        "form": form,
        "card": card,
        "tenant": tenant,
        "local_start": timezone.localtime(start),
        "local_end": timezone.localtime(end),
        "success_percent": format_percent(card["success_rate"]),
        "fail_percent": format_percent(card["fail_rate"]),
        "reasons": [
            {
                "key": key,
                **card["failures_by_reason"][key],
                **share(card["failures_by_reason"][key]["count"]),
            }
            for key in REASONS
            if key != "other" or card["failures_by_reason"][key]["count"]
        ],
        "read_states": [
            {"key": "unread", "label": "Unread", **share(card["unread"])},
            {"key": "read", "label": "Read", **share(card["read"])},
            {"key": "read_unknown", "label": "Unknown (not found)", **share(card["read_unknown"])},
        ],
        "modes": [
            {"key": "auto", "label": "Auto (policy)", **share(card["auto"])},
            {"key": "manual", "label": "Manual", **share(card["manual"])},
        ],
        "from_delivery": latency("from_delivery"),
        "from_verdict": latency("from_verdict"),
        "details_url": details_url(request, start=start, end=end, tenant_id=card["tenant"]),
        "series": {
            "labels": [point["date"] for point in card["daily"]],
            "succeeded": [point["succeeded"] for point in card["daily"]],
            "failed": [point["failed"] for point in card["daily"]],
        },
    }
