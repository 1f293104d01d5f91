#!/usr/bin/env python3
"""Check docs/scenario.schema.json: it is a valid JSON Schema 2020-12, every scenario under
scenarios/ validates against it (files named _*.json are include fragments or step lists), and
a set of broken scenarios is rejected. Exit 77 (skipped) when the jsonschema module is missing."""
import glob
import json
import os
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:
    print("skipped: the Python jsonschema module is not installed", file=sys.stderr)
    sys.exit(77)

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
with open(os.path.join(root, "docs", "scenario.schema.json")) as f:
    schema = json.load(f)
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)


def sub(name):
    s = dict(schema)
    s = {"$schema": schema["$schema"], "$defs": schema["$defs"], "$ref": "#/$defs/" + name}
    return Draft202012Validator(s)


fragment = sub("fragment")
steplist = sub("stepList")
failures = 0
files = sorted(glob.glob(os.path.join(root, "scenarios", "**", "*.json"), recursive=True))
for path in files:
    with open(path) as f:
        doc = json.load(f)
    base = os.path.basename(path)
    if base.startswith("_"):
        errs = list(fragment.iter_errors(doc)) if isinstance(doc, dict) and "steps" not in doc \
            else list(steplist.iter_errors(doc))
    else:
        errs = list(validator.iter_errors(doc))
    for e in errs:
        failures += 1
        print(f"{path}: {e.json_path}: {e.message}")
print(f"{len(files)} scenario files checked")

bad = [
    {},
    {"steps": [{"name": "no kind"}]},
    {"steps": [{"http": {"url": "x"}, "sleep": 1}]},
    {"steps": [{"http": {"url": "x", "method": 1}}]},
    {"steps": [{"sleep": "5 parsecs"}]},
    {"steps": [{"http": {"url": "x"}, "expect": {"json": {"$.a": {"equalz": 1}}}}]},
    {"steps": [{"mcp": {"method": "x"}, "expect": {"status": 200}}]},
    {"steps": [], "processes": {"m": {"type": "mock"}}},
    {"steps": [], "processes": {"m": {"type": "robot"}}},
    {"steps": [], "processes": {"a.b": {"type": "mock", "kind": "x"}}},
    {"steps": [], "gates": {"x": ["p99<2ms"]}},
    {"steps": [], "gates": {"x": "p(99)<2ms"}},
    {"steps": [], "stepz": []},
    {"steps": [{"kill": "m", "expect": {}}]},
    {"steps": [{"load": {"url": "http://x", "phases": []}}]},
]
for doc in bad:
    if validator.is_valid(doc):
        failures += 1
        print(f"accepted but should not be: {json.dumps(doc)}")
print(f"{len(bad)} broken scenarios checked")
sys.exit(1 if failures else 0)
