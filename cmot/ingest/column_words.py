"""The words role detection reads a column by: patterns of its name (an id, a date, a weight,
an outcome, not a rating, a model's output, unnamed), text that means no answer, and what
text makes comments. Name patterns are matched on the lower-cased name with `re.search`.
"""

from __future__ import annotations

import re

OUTCOME_WORDS = (
    r"satisf|outcome|target|recommend|\bnps\b|\bltr\b|loyal(ty)?\b|retain|retention|churn|"
    r"renew|again|overall|netpro|^global$|^o_experience$|^experience$"
)
STRONG_OUTCOME = r"^(satisfaction|satisfied|outcome|target|overall|nps|churn|retained|global)$"
FIRST_OUTCOME = r"overall|satisf|global|experience"  # preferred over recommend when both
ID_WORDS = r"(^|[\s_])(id|respondent|resp|uuid|record)($|[\s_])|^id$|_id$|\bid\b"
WEIGHT_WORDS = r"weight|^wt$|wgt|weighting"
DATE_WORDS = r"date|time|when|day"
NOT_RATING_WORDS = (
    r"\bage\b|year|count|number|\bnum\b|children|distance|delay|minutes|size|gender|\bsex\b|"
    r"income|language|method|mode\b|district|\bzip|postcode|race|ethnic|education|occupation|"
    r"region|country|\bstrat|segment|tier|purpose|_code\b|\bcode\b|wave|quarter|month|hour|"
    r"\blang|peak|residen|county|marital|employ|household"
)
MODEL_WORDS = r"predict|^prob|\bprob\b|prob\(|fitted|most likely|residual|\bscore_hat"
UNNAMED = r"^(column\d+|unnamed:? ?\d*|index|\.\.\.\d+|)$"
MARKER_WORDS = (
    r"^(n/?a|#n/a|nan|null|none|blank|missing|don'?t know|do not know|dk|refused|no answer|"
    r"not applicable|not rated|never used|prefer not to (say|answer)|-|\.|\?)$"
)
NEGATIVE = r"\bnot\b|\bno\b|dis|unsat|neutral|false|\bdetractor|unlikely|never|^0$|^n$"
# A comment column: over this many different answers, at least this share of them different
# (mostly unique), and a typical (median) answer of this many words and characters. Real
# comments: 16 words, 97 characters, 98% different (Santa Monica); a review title is three
# or four words, a lounge's name five but repeated.
MIN_COMMENT_VALUES = 50
COMMENT_UNIQUE = 0.5
COMMENT_WORDS = 6
COMMENT_CHARS = 30


def name_stem(name: str) -> str:
    """A column's name family: lower case, spaces collapsed, every run of digits as '#'."""
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", name.strip().lower()))
