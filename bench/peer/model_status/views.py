"""``POST /cloud/model_status``: the body modelhooks takes, saved as a ModelVersion."""

import json

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import STATUSES, ModelVersion

KEY_FIELDS = {"project_name": str, "name": str, "version": int}


@csrf_exempt
@require_POST
def report_status(request):
    try:
        report = json.loads(request.body)
    except ValueError:
        return _refusal("the body must be a JSON object")
    problem = _problem(report)
    if problem:
        return _refusal(problem)

    # Saving the row fires django-webhook's post_save handler, which queues
    # one fire_webhook task per subscribed webhook before this answers.
    key = {field: report[field] for field in KEY_FIELDS}
    version, created = ModelVersion.objects.update_or_create(
        **key, defaults={"status": report["status"]})
    return JsonResponse({"id": version.id, "created": created}, status=202)


def _problem(report) -> str | None:
    if not isinstance(report, dict):
        return "the body must be a JSON object"
    for field, kind in KEY_FIELDS.items():
        if not isinstance(report.get(field), kind):
            return f"{field} must be a {kind.__name__}, got {report.get(field)!r}"
    if report.get("status") not in STATUSES:
        return f"status must be one of {STATUSES}, got {report.get('status')!r}"
    return None


def _refusal(message: str) -> JsonResponse:
    return JsonResponse({"message": message}, status=400)
