"""Checks the exported grammars with parsers independent of dsl-engine's (tests/dsl_props.rs
runs it).

    python grammar_check.py GRAMMAR.lark INPUTS.json
    python grammar_check.py --llguidance lark|gbnf GRAMMAR

The first parses strategies with the Python `lark` package: INPUTS.json is a JSON list of
strategy texts; prints a JSON list with one entry per input, null when it parses, else the first
line of lark's error; exit status 2 when the grammar does not load. The second loads a grammar in
llguidance (vLLM's `guidance` backend, OpenAI's Lark tools; its GBNF reader follows llama.cpp's
syntax) and prints its complaints, nothing when it has none; exit status 1 when it has some.
"""

import json
import multiprocessing
import os
import sys

import lark

PARSER = None


def load(grammar):
    # Earley with the dynamic lexer: the grammar spells whitespace out (no %ignore) and its
    # terminals overlap (names and keywords), as llguidance reads it.
    return lark.Lark(grammar, start="start", parser="earley", lexer="dynamic",
                     ambiguity="forest", ordered_sets=False)


def check(text):
    try:
        PARSER.parse(text)
        return None
    except lark.exceptions.LarkError as e:
        return (str(e).strip().splitlines() or ["error"])[0]


def validate(fmt, path):
    import llguidance

    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        grammar = llguidance.grammar_from(fmt, text)
        complaints = llguidance.LLMatcher.validate_grammar(grammar, None)
    except Exception as e:  # the GBNF reader raises on what it cannot read
        complaints = str(e)
    if complaints:
        print(complaints)
        sys.exit(1)


def main():
    global PARSER
    if len(sys.argv) == 4 and sys.argv[1] == "--llguidance":
        validate(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        grammar = f.read()
    with open(sys.argv[2], encoding="utf-8") as f:
        inputs = json.load(f)
    try:
        PARSER = load(grammar)
    except lark.exceptions.LarkError as e:
        print(f"the grammar does not load: {e}", file=sys.stderr)
        sys.exit(2)
    workers = max(1, min(len(inputs) // 8, os.cpu_count() or 1))
    if workers > 1:
        # Forked workers share the loaded parser.
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(check, inputs, chunksize=4)
    else:
        results = [check(t) for t in inputs]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
