"""Which language a turn is written in, by the share of each language's commonest function words.

Function words (articles, pronouns, prepositions, auxiliaries) make up 35-55% of running text in
the language they belong to and only a few percent of text in another one, so the share is a
cheap, offline and deterministic signal that needs no model. The lists overlap a little ("a",
"no", "me"); a turn is judged by the language with the highest share.
"""

from __future__ import annotations

from lib.core.checks.normalize import words


def _listed(block: str) -> frozenset[str]:
    return frozenset(block.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": _listed("""
        a about after again all also am an and any are as at be because been before being both but by
        can can't could did didn't do does doesn't don't down during each even every few for from had has
        have haven't having he her here hers him his how i i'd i'll i'm i've if in into is isn't it it's its
        just let's me might more most much must my no nor not now of off on once one only or other our out
        over own same she should so some such than that that's the their them then there these they this
        those through to too under until up us very was wasn't we we're were what when where which while who
        why will with won't would you you'll you're your yours
    """),
    "es": _listed("""
        a al algo algunos ante antes como con contra cual cuando de del desde donde durante e el ella ellas
        ellos en entre era es esa ese eso esta estaba estamos estan este esto estoy fue ha hay la las le les
        lo los mas me mi mis mucho muy nada ni no nos nosotros o otra otro para pero poco por porque que
        quien se ser si sin sobre son su sus también te tengo tiene todo tu tus un una uno unos y ya yo
    """),
    "fr": _listed("""
        a à au aussi aux avec avez avoir c ce cela ces cette comme dans de des du elle elles en est et été
        être eu il ils j je la le les leur lui m ma mais me même mes moi mon n ne nos notre nous on ou où par
        pas pour qu que qui s sa sans se ses si son sont sur t ta te tes toi ton tout très tu un une vos votre
        vous y
    """),
    "de": _listed("""
        aber alle als also am an auch auf aus bei bin bis bist da damit dann das dass dem den der des die
        dir doch du ein eine einem einen einer es für hab habe haben hat ich ihr im in ist ja jetzt kann kein
        keine mein meine mich mir mit muss nach nicht noch nur oder schon sehr sein sich sie sind so über um
        und uns unser von vor war wie wir wird zu zum zur
    """),
    "pt": _listed("""
        a ao aos as até com como da das de do dos e ela elas ele eles em entre era essa esse esta está estou
        eu foi há isso isto já lhe mais mas me meu minha muito na nas não nem no nos nós o os ou para pela
        pelo por porque quando que se sem ser seu sua são também te tem tenho um uma você vocês
    """),
    "it": _listed("""
        a ad al alla alle anche che chi ci come con da dal dalla dei del della delle di e è ed gli ha hanno
        ho i il in io la le lei lo loro lui ma mi mia mio molto ne nel nella noi non o per perché più poi
        quando quella quello questa questo se si sia sono su sua suo ti tu tutto un una uno vi voi
    """),
    "nl": _listed("""
        aan al alles als ben bij dan dat de deze die dit doen door dus een en er geen had heb heeft hem het
        hij hoe ik in is ja je jij kan maar me meer met mij mijn naar niet nog nu of om ons ook op over te
        tot u uit van veel voor was wat we wel wij zal ze zij zijn zo
    """),
}
SUPPORTED = tuple(STOPWORDS)
MIN_WORDS = 8  # below this a share says little; the length check handles such turns


def shares(text: str) -> dict[str, float]:
    """Each language's share of the text's words (0..1)."""
    tokens = words(text)
    if not tokens:
        return {lang: 0.0 for lang in STOPWORDS}
    return {lang: sum(t in stop for t in tokens) / len(tokens) for lang, stop in STOPWORDS.items()}


def language_problem(text: str, expected: str, min_share: float) -> str | None:
    """Why the text does not read as `expected`, or None when it does (or is too short to judge)."""
    if len(words(text)) < MIN_WORDS:
        return None
    got = shares(text)
    best = max(got, key=lambda lang: got[lang])
    if got[expected] < min_share:
        like = (
            f"it reads most like {best!r}"
            if best != expected and got[best] > got[expected]
            else "it does not read as running prose"
        )
        return (
            f"only {got[expected]:.0%} of its words are common {expected!r} function words "
            f"(at least {min_share:.0%} expected; {like})"
        )
    if best != expected and got[best] > got[expected]:
        return f"it reads as {best!r} ({got[best]:.0%} function words) rather than {expected!r} ({got[expected]:.0%})"
    return None
