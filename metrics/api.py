"""GET /api/v1/metrics/retractions/: the Retractions card as JSON (the admin card's numbers)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics.serializers import CardQuerySerializer, RetractionCardSerializer
from metrics.services.card import retractions_card


class RetractionMetricsView(APIView):
    """The Retractions card for an interval and the tenants you may see (or one of them).

    Counts retraction attempts that succeeded or failed with `completed_at` in
    [start, end); cancelled attempts and undos are not counted, queued and running
    ones are reported as `in_progress`. Definitions: metrics/README.md.
    """

    @extend_schema(
        parameters=[CardQuerySerializer],
        responses={
            200: RetractionCardSerializer,
            400: OpenApiResponse(description='Invalid parameter: `{"field": ["message"]}`.'),
        },
    )
    def get(self, request: Request) -> Response:
        query = CardQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        data = query.validated_data
        card = retractions_card(
            user=request.user, start=data["start"], end=data["end"], tenant=data.get("tenant")
        )
        return Response(card.as_dict())
