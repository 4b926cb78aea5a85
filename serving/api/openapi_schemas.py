"""The JSON schemas of the API's bodies (``components.schemas`` of ``/openapi.json``)."""

from __future__ import annotations

from features.contract import EVENT_TYPES
from serving.api.params import CHANNELS, ID_PATTERN, ID_RULE
from serving.model_state import VERSION_PATTERN


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind: str | dict) -> dict:
    if isinstance(kind, str):
        return {"type": [kind, "null"]}
    return {"anyOf": [kind, {"type": "null"}]}


def obj(properties: dict, required: list[str] | None = None, **extra) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **extra}


ID = {"type": "string", "pattern": ID_PATTERN.pattern, "description": ID_RULE}
NUM = {"type": "number"}
STR = {"type": "string"}
INT = {"type": "integer"}

SCHEMAS = {
    "Error": obj({"error": obj({
        "status": INT, "code": STR,
        "message": {"type": "string", "description": "What went wrong and how to fix it."},
        "request_id": nullable("string")})}),
    "Offer": obj({
        "offer_id": STR, "type": STR, "title": STR, "message": STR,
        "target": {"type": "object", "description": "What the offer applies to: kind "
                   "(basket, category, item) and the category or item chosen for the member."},
        "value": {"type": "object", "description": "What the member gets: kind and amount."},
        "expiry": {"type": "string", "description": "ISO 8601 date the offer ends."},
        "code": {"type": "string", "description": "Redemption code, stable per member, "
                 "offer and campaign."},
        "p_redeem": {"type": "number", "minimum": 0, "maximum": 1},
        "cost": {"type": "number", "description": "Expected cost to the program."},
        "reason": {"type": "string", "description": "Why this member gets it, in words."},
        "reason_codes": {"type": "array", "items": STR},
        "score": {"type": "number", "description": "Expected value of making the offer."},
    }, required=["offer_id", "type", "title", "message", "target", "value", "expiry", "score",
                 "p_redeem", "cost", "reason", "reason_codes"]),
    "Decision": obj({
        "request_id": STR, "decision_id": STR, "member_id": STR,
        "known": {"type": "boolean", "description": "false: a cold-start answer for a member "
                  "the model does not know (welcome and referral offers)."},
        "control_group": {"type": "boolean", "description": "true: the member is held out "
                          "to measure lift and gets no offers."},
        "model_version": STR, "channel": STR, "campaign_id": STR,
        "decided_at": {"type": "string", "description": "UTC time of the decision."},
        "segment": nullable("string"), "churn_risk": nullable("number"),
        "offers": {"type": "array", "items": ref("Offer")},
        "suppressed": {"type": ["string", "null"], "description": "Why no offer was made: "
                       "control_group, or contact_policy (contacted enough recently)."},
    }, required=["decision_id", "member_id", "known", "channel", "control_group",
                 "model_version", "segment", "churn_risk", "offers"]),
    "Profile": obj({
        "member_id": STR, "known": {"type": "boolean"}, "model_version": STR,
        "profile": nullable({"type": "object", "description": "segment, rfm_score, cluster, "
                             "cluster_label, recency_days, frequency, monetary_total, "
                             "churn_risk, churn_drivers [{code, text}], clv, tier, "
                             "points to the next tier, top_categories; null when unknown."}),
    }),
    "Recommendations": obj({
        "member_id": STR, "known": {"type": "boolean"}, "model_version": STR,
        "items": {"type": "array", "items": obj(
            {"item_id": STR, "name": STR, "category": STR, "score": NUM})},
        "categories": {"type": "array", "items": obj({"category": STR, "score": NUM})},
    }),
    "BatchRequest": obj({
        "member_ids": {"type": "array", "items": ID, "minItems": 1},
        "channel": {"type": "string", "enum": list(CHANNELS), "default": "email"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
    }, required=["member_ids"], additionalProperties=False),
    "BatchResponse": obj({
        "request_id": STR, "model_version": STR, "channel": STR, "limit": INT, "count": INT,
        "results": {"type": "array", "items": ref("Decision")},
    }),
    "Event": obj({
        "event_id": {**ID, "description": "Unique per event; a retry with the same id and "
                     "content is a no-op."},
        "member_id": ID, "offer_id": {**ID, "description": "An offer id of the catalog."},
        "event": {"type": "string", "enum": list(EVENT_TYPES)},
        "timestamp": {"type": ["string", "null"], "format": "date-time",
                      "description": "ISO 8601; UTC when no zone; default (null or absent) "
                      "now; from 1970 on and not in the future (else 422).",
                      "examples": ["2024-03-31T14:05:00Z"]},
        "channel": nullable(ID), "campaign_id": nullable(ID),
        "cost": {"type": ["number", "null"], "minimum": 0, "exclusiveMaximum": 1e9,
                 "description": "redeemed only: what the redemption cost; default (null or "
                 "absent) the engine's estimate."},
    }, required=["event_id", "member_id", "offer_id", "event"], additionalProperties=False),
    "EventsResponse": obj({
        "received": INT, "stored": INT, "duplicates": INT,
        "duplicate_ids": {"type": "array", "items": STR,
                          "description": "Up to 100 ids that were already stored."},
    }),
    "Model": obj({
        "version": STR, "trained_at": nullable("string"), "as_of": nullable("string"),
        "loaded_at": STR, "row_counts": {"type": "object"}, "metrics": {"type": "object"},
        "server_target": {"type": "string", "description": "The version every worker is "
                          "switching to (equals version once they have)."},
        "pid": INT,
    }),
    "ReloadRequest": obj({"version": {"type": "string", "pattern": VERSION_PATTERN.pattern,
                                      "not": {"pattern": r"\.\."},
                                      "description": "A version name as `offers versions` "
                                      "lists it; leave it out for the version `current` "
                                      "points at.", "examples": ["20240331T120000Z-ab12"]}},
                         required=[], additionalProperties=False),
    "ReloadResponse": obj({
        "previous_version": nullable("string"), "version": STR, "changed": {"type": "boolean"},
        "note": STR}),
    "Health": obj({"status": {"const": "ok"}}),
    "Ready": obj({
        "status": {"type": "string", "enum": ["ready", "unavailable"]},
        "model_version": nullable("string"), "target_version": nullable("string"),
        "switching": {"type": "boolean"}, "problems": {"type": "array", "items": STR}}),
}
