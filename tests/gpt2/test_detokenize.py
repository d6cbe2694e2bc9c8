"""The zero-shot detokenizers (webtext/gpt2/detokenize.py), on text constructed here in each
dataset's own tokenization.

Invertibility, as the GPT-2 paper means it: the detokenizer loses nothing, so the dataset's text
comes back from what the model read. The direction that holds is retokenize(detokenize(x)) == x
for x tokenized the dataset's way (`wikitext`, `ptb`); each test also checks what detokenize
gives (else an identity pair would pass), and the known exceptions are asserted as such.
"""

from __future__ import annotations

import pytest

from webtext.gpt2.detokenize import DETOKENIZERS, INVERSES, detokenize, retokenize

# WikiText-103 raw, as Merity et al. tokenized it: a heading, a sub-heading, @-@ @,@ @.@ inside
# words, spaced punctuation and brackets, split contractions and possessives.
WIKITEXT = (
    " = Valkyria Chronicles III = \n"
    " \n"
    " Senjō no Valkyria 3 : Unrecorded Chronicles ( Japanese : 戦場のヴァルキュリア3 , lit . Valkyria of the "
    "Battlefield 3 ) , commonly referred to as Valkyria Chronicles III outside Japan , is a tactical role @-@ "
    "playing video game . It was n't released in the West ; it 's sold 1 @,@ 020 @,@ 000 copies at 3 @.@ 5 "
    "times the studio 's estimate ! Did they 've plans ? The team 'd say they 'll try , and we 're sure I 'm "
    "right [ citation needed ] .\n"
    " \n"
    " = = Gameplay = = \n"
    " \n"
    " = = = Battle system = = = \n"
    " The game 's well @-@ known \" BLiTZ \" system ( Battle of Live Tactical Zones ) returns : 40 % of it .\n"
)
WIKITEXT_RAW = (
    " = Valkyria Chronicles III = \n"
    " \n"
    " Senjō no Valkyria 3: Unrecorded Chronicles (Japanese: 戦場のヴァルキュリア3, lit. Valkyria of the "
    "Battlefield 3), commonly referred to as Valkyria Chronicles III outside Japan, is a tactical role-"
    "playing video game. It wasn't released in the West; it's sold 1,020,000 copies at 3.5 "
    "times the studio's estimate! Did they've plans? The team'd say they'll try, and we're sure I'm "
    "right [citation needed].\n"
    " \n"
    " == Gameplay == \n"
    " \n"
    " === Battle system === \n"
    " The game's well-known \" BLiTZ \" system (Battle of Live Tactical Zones) returns: 40 % of it.\n"
)

# Penn Treebank as Mikolov et al. distribute it: lower case, <unk>, N for numbers, no punctuation
# left but split contractions and possessives.
PTB = (
    " the company 's shares rose N N to $ N a share \n"
    " we do n't think it 's <unk> he said and they 're sure i 've seen it \n"
    " i 'm told you 'll see he 'd agree the firms ' chiefs wo n't \n"
)
PTB_RAW = (
    " the company's shares rose N N to $ N a share \n"
    " we don't think it's <unk> he said and they're sure i've seen it \n"
    " i'm told you'll see he'd agree the firms ' chiefs won't \n"
)


def test_wikitext_detokenizer_undoes_wikitexts_tokenization_and_is_inverted_exactly():
    assert detokenize(WIKITEXT, "wikitext") == WIKITEXT_RAW
    assert retokenize(WIKITEXT_RAW, "wikitext") == WIKITEXT  # invertible: the dataset's text comes back
    assert retokenize(detokenize(WIKITEXT, "wikitext"), "wikitext") == WIKITEXT


def test_wikitext_inverse_limit_a_word_ending_in_its_own_period():
    """The documented exception: WikiText keeps an abbreviation's period ("U.S. and"); the
    detokenizer leaves it, and the inverse splits it as it would a sentence's final period."""
    x = " the U.S. and Canada ."
    assert detokenize(x, "wikitext") == " the U.S. and Canada."
    assert retokenize(detokenize(x, "wikitext"), "wikitext") != x


def test_ptb_detokenizer_undoes_split_contractions_and_is_inverted_exactly():
    assert detokenize(PTB, "ptb") == PTB_RAW
    assert retokenize(PTB_RAW, "ptb") == PTB
    assert retokenize(detokenize(PTB, "ptb"), "ptb") == PTB


def test_lambada_detokenizer_is_not_invertible_quotes_merge():
    """The original LAMBADA release (PTB-style, `` and '' quotes): both quote marks become ", so
    no inverse exists (and none is offered)."""
    x = "`` i do n't know , '' she said . `` maybe ( later ) ? ''"
    assert detokenize(x, "lambada") == "\"i don't know,\" she said. \"maybe (later)?\""
    assert detokenize("`` hi ''", "lambada") == detokenize('"hi"', "lambada") == '"hi"'  # two inputs, one output
    assert "lambada" not in INVERSES
    with pytest.raises(ValueError, match="no inverse"):
        retokenize(x, "lambada")


def test_detokenizers_keep_newlines_and_none_is_the_identity():
    assert detokenize(WIKITEXT, "none") == WIKITEXT
    for name in DETOKENIZERS:
        assert detokenize(WIKITEXT, name).count("\n") == WIKITEXT.count("\n")
