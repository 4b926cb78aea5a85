"""Models: segmentation, recommenders, churn and value, offer response.

One subpackage per family, each re-exporting its public names:
:mod:`.segmentation` (RFM segments, behavioural clusters), :mod:`.recommenders`
(buy again, popularity, ALS, their blend, ranking metrics and tuning),
:mod:`.lifecycle` (labelled windows, churn risk, expected spend and CLV),
:mod:`.offer_response` (P(redeem | member, offer)). Shared by them:
:mod:`.metrics` (classification and regression metrics) and
:mod:`.member_sample` (seeded member samples for large data).

Imports: :mod:`features` only. Models follow scikit-learn's conventions
(``fit`` returns ``self``, learned state ends in ``_``).
"""
