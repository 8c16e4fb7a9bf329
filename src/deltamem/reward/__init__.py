"""The state-level reward of DeltaMem: soft F1 over the Memory-based Levenshtein Distance (MLD).

>>> from deltamem.embed.hashing import HashingEmbedder
>>> scorer = MLDScorer(HashingEmbedder())
>>> target = [{"id": "m1", "text": "Caroline lives in Seattle", "keywords": ["Seattle"]}]
>>> scorer.score([{"id": "m1", "text": "Caroline lives in Seattle."}], target).reward
1.0
"""

from deltamem.reward.mld import MLDScorer
from deltamem.reward.parse import extract_ops, items_of, records_of, state_from_records
from deltamem.reward.result import CreditKind, MatchedPair, MatchOn, Outcome, RewardConfig, RewardResult
from deltamem.reward.text import completion_text, containment, normalise_text, token_string
from deltamem.reward.trl_reward import make_trl_reward  # deprecated: warns when called

__all__ = [
    "CreditKind", "MLDScorer", "MatchOn", "MatchedPair", "Outcome", "RewardConfig", "RewardResult", "completion_text",
    "containment", "extract_ops", "items_of", "make_trl_reward", "normalise_text", "records_of",
    "state_from_records", "token_string",
]
