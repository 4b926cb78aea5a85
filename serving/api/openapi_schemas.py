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

OFFER_EXAMPLE = {
    "offer_id": "win-back-discount", "type": "win_back", "title": "We miss you: 15% off",
    "message": "15% off your next basket until 2024-04-14.", "target": {"kind": "basket"},
    "value": {"kind": "percent_off", "amount": 15.0}, "expiry": "2024-04-14",
    "code": "WINBAC-3F2A91C0DE", "p_redeem": 0.21, "cost": 3.1, "score": 1.42,
    "reason": "Has not shopped for 6 weeks", "reason_codes": ["LAPSING"]}

SCHEMAS = {
    "Error": obj({"error": obj({
        "status": INT, "code": STR,
        "message": {"type": "string", "description": "What went wrong and how to fix it."},
        "request_id": nullable("string")})}, examples=[{"error": {
            "status": 400, "code": "bad_request", "request_id": "5f0c1e2a9b7d4c3e",
            "message": "limit=0 is out of range; use 1 to 10."}}]),
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
                 "p_redeem", "cost", "reason", "reason_codes"], examples=[OFFER_EXAMPLE]),
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
        "skipped_models": {"type": "object", "additionalProperties": STR, "description":
                           "Training steps this version skipped for lack of data, with the "
                           "reason; offers that need them are not made."},
    }, required=["decision_id", "member_id", "known", "channel", "control_group",
                 "model_version", "segment", "churn_risk", "offers"], examples=[{
        "request_id": "5f0c1e2a9b7d4c3e", "decision_id": "9d1b6c0e4a2f4f8e", "member_id": "1029",
        "known": True, "control_group": False, "model_version": "20240331T120000Z-ab12",
        "channel": "email", "campaign_id": "always-on", "decided_at": "2024-03-31T14:05:00Z",
        "segment": "at_risk", "churn_risk": 0.62, "offers": [OFFER_EXAMPLE],
        "suppressed": None}]),
    "Profile": obj({
        "member_id": STR, "known": {"type": "boolean"}, "model_version": STR,
        "profile": nullable({"type": "object", "description": "segment, rfm_score, cluster, "
                             "cluster_label, recency_days, frequency, monetary_total, "
                             "churn_risk, churn_drivers [{code, text}], clv (12 months "
                             "of the mean spend forecast: sums over members), "
                             "expected_spend (over the version's horizon_days: the member's "
                             "median forecast, 0 when no purchase is more likely than one), "
                             "tier, points to the next tier, top_categories; with "
                             "horizon_days=N, "
                             "horizon {horizon_days, churn_risk (P(no purchase in the N days "
                             "after the version's as_of), null without a purchase), "
                             "expected_spend (median), mean_spend (mean: sums over members), "
                             "answered_by {churn_risk, expected_spend, mean_spend}: the "
                             "model that answers, validated at which horizons}; null when "
                             "unknown."}),
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
    }, required=["member_ids"], additionalProperties=False,
        examples=[{"member_ids": ["1029", "1030"], "channel": "email", "limit": 2}]),
    "BatchResponse": obj({
        "request_id": STR, "model_version": STR, "channel": STR, "limit": INT, "count": INT,
        "results": {"type": "array", "items": ref("Decision")},
    }),
    "ScoreRequest": obj({"sends": {"type": "array", "minItems": 1, "maxItems": 10_000,
                                   "items": obj({
        "member_id": ID, "offer_id": {**ID, "description": "An offer id of the catalog."},
        "timestamp": {"type": ["string", "null"], "format": "date-time",
                      "description": "When the offer would be sent; ISO 8601, UTC when no "
                      "zone; default (null or absent) now."},
        "channel": {"type": ["string", "null"], "enum": [*CHANNELS, None],
                    "description": "default (null or absent) email"},
    }, required=["member_id", "offer_id"], additionalProperties=False)}},
        additionalProperties=False),
    "ScoreResponse": obj({
        "request_id": STR, "model_version": STR, "count": INT,
        "results": {"type": "array", "items": obj({
            "member_id": STR, "offer_id": STR,
            "status": {"type": "string", "enum": [
                "ok", "unknown_member", "unknown_offer", "malformed_member_id",
                "malformed_offer_id"], "description": "unknown_member: scored as a member "
                "the model does not know; unknown_offer: not scored."},
            "p_redeem": nullable("number"), "cost": nullable("number"),
            "expected_cost": nullable("number"),
            "expected_value": {"type": ["number", "null"], "description": "EV net of the "
                               "send cost; null when not eligible at that moment."},
            "eligible": {"type": "boolean"}})},
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
    }, required=["event_id", "member_id", "offer_id", "event"], additionalProperties=False,
        examples=[{"event_id": "cmp7-000123-sent", "member_id": "1029",
                   "offer_id": "win-back-discount", "event": "sent", "channel": "email",
                   "timestamp": "2024-03-31T14:05:00Z", "campaign_id": "cmp7"}]),
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
