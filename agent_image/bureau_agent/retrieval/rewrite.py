"""``rewrite_query``: a deterministic rewrite that keeps the words that carry meaning.

The hosted API rewrites with a model; Bureau does not spend the user's tokens on it. The rewrite
lower-cases the query, drops punctuation, conversational filler ("please", "can you tell me",
"I want to know") and English stop words, and removes repeated words. When nothing would be
left, the original query is kept. Same input, same output.
"""

from __future__ import annotations

import re

_FILLER_PHRASES = (
    "can you tell me", "could you tell me", "would you tell me", "please tell me", "tell me",
    "i want to know", "i would like to know", "i'd like to know", "do you know", "can you",
    "could you", "would you", "help me", "i need", "i want", "look up", "search for", "find me",
    "show me", "give me", "let me know", "in the documents", "in the files", "in my files",
)  # fmt: skip
_STOP_WORDS = frozenset(
    """a about an and any anything are as at be been being by can could did do does doing for
    from had has have having he her here hers him his how i if in into is it its itself just me
    my of on or our ours please she so some something than that the their them then there these
    they this those to too us very was we were what when where which while who whom why will
    with would you your yours""".split()
)
_WORD = re.compile(r"[\w][\w'.+#-]*[\w+#]|[\w]", re.UNICODE)


def rewrite_query(query: str) -> str:
    text = query.lower()
    for phrase in _FILLER_PHRASES:
        text = re.sub(rf"\b{re.escape(phrase)}\b", " ", text)
    seen: set[str] = set()
    kept: list[str] = []
    for word in _WORD.findall(text):
        if word in _STOP_WORDS or word in seen:
            continue
        seen.add(word)
        kept.append(word)
    return " ".join(kept) if kept else query.strip()
