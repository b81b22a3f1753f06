"""Parses strategies with an exported Lark grammar, using the Python `lark` package as a parser
independent of dsl-engine's (tests/dsl_props.rs runs it).

    python grammar_check.py GRAMMAR.lark INPUTS.json

INPUTS.json is a JSON list of strategy texts. Prints a JSON list with one entry per input: null
when it parses, else the first line of lark's error. Exit status 2 when the grammar itself does
not load.
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


def main():
    global PARSER
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
