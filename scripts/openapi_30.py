#!/usr/bin/env python3
"""openapi-3.0.yaml: the OpenAPI 3.1 contract (openapi.yaml) as 3.0.3, for
client generators that read only 3.0.

    python3 scripts/openapi_30.py           # writes openapi-3.0.yaml
    python3 scripts/openapi_30.py --check   # fails if the checked-in copy is out of step

What changes from 3.1 to 3.0.3:
  - `openapi: 3.0.3`;
  - a type list with "null" (`type: [string, "null"]`) becomes the type and
    `nullable: true`; any other type list is refused (3.0 has no spelling
    for it here);
  - `oneOf`/`anyOf` of one `$ref` and `{type: "null"}` becomes
    `allOf: [$ref]` with `nullable: true` (3.0 has no null type); any other
    `type: "null"` is refused;
  - a schema's `examples` list becomes `example` (its first item); the
    `examples` maps of media types and parameters are 3.0 already and stay;
  - `const: X` becomes `enum: [X]`;
  - `contentEncoding: base64` becomes `format: byte`;
  - a numeric `exclusiveMinimum`/`exclusiveMaximum` becomes the bound and
    the 3.0 boolean;
  - what 3.0 does not have is refused (`webhooks`, `jsonSchemaDialect`,
    `$ref` with siblings, `prefixItems`, ...), so nothing is dropped silently.

--check compares the parsed copy with the conversion (not the bytes, so a
different PyYAML layout is not a failure) and names the first difference.
"""

import os
import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # the tools venv (infra/local/tools.sh) has PyYAML, for cfn-lint
    tools = Path(os.environ.get("COG_TOOLS_DIR", Path(__file__).resolve().parent.parent / ".local/tools"))
    venv_python = tools / "venv/bin/python"
    if venv_python.exists() and Path(sys.executable).resolve() != venv_python.resolve():
        os.execv(str(venv_python), [str(venv_python), *sys.argv])
    sys.exit("openapi_30.py: needs PyYAML (pip install pyyaml, or run infra/local/tools.sh)")

REPO = Path(__file__).resolve().parent.parent
SOURCE = REPO / "openapi.yaml"
TARGET = REPO / "openapi-3.0.yaml"
HEADER = (
    "# GENERATED from openapi.yaml by scripts/openapi_30.py: do not edit.\n"
    "# The same contract in OpenAPI 3.0.3, for generators that read only 3.0.\n"
)

# Keys whose value is a map of names to schemas, or a list of schemas.
SCHEMA_MAPS = {"properties", "patternProperties", "$defs", "definitions"}
SCHEMA_LISTS = {"allOf", "anyOf", "oneOf"}
SCHEMA_ONE = {"items", "not", "additionalProperties", "schema"}
UNSUPPORTED_SCHEMA_KEYS = {
    "prefixItems", "$defs", "dependentSchemas", "dependentRequired", "unevaluatedProperties",
    "unevaluatedItems", "if", "then", "else", "contains", "propertyNames", "$id", "$anchor",
    "contentMediaType", "contentSchema",
}


class Unsupported(Exception):
    pass


def convert_schema(schema, where):
    if not isinstance(schema, dict):
        raise Unsupported(f"{where}: a schema that is not a mapping")
    if "$ref" in schema and len(schema) > 1:
        raise Unsupported(f"{where}: $ref with siblings (ignored by 3.0)")
    out = {}
    for key, value in schema.items():
        here = f"{where}/{key}"
        if key in UNSUPPORTED_SCHEMA_KEYS:
            raise Unsupported(f"{here}: no 3.0 equivalent")
        if key == "type" and value == "null":
            raise Unsupported(f"{here}: a null type outside a nullable $ref")
        if key in ("oneOf", "anyOf") and {"type": "null"} in value:
            rest = [sub for sub in value if sub != {"type": "null"}]
            if len(rest) != 1 or "$ref" not in rest[0]:
                raise Unsupported(f"{here}: null with anything but one $ref")
            out["allOf"] = [convert_schema(rest[0], f"{here}[0]")]
            out["nullable"] = True
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) != 1:
                raise Unsupported(f"{here}: type list {value}")
            out["type"] = types[0]
            if "null" in value:
                out["nullable"] = True
        elif key == "examples":
            if not isinstance(value, list) or not value:
                raise Unsupported(f"{here}: a schema's examples must be a non-empty list")
            out["example"] = value[0]
        elif key == "const":
            out["enum"] = [value]
        elif key == "contentEncoding":
            if value != "base64":
                raise Unsupported(f"{here}: {value}")
            out["format"] = "byte"
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key in SCHEMA_MAPS:
            out[key] = {name: convert_schema(sub, f"{here}/{name}") for name, sub in value.items()}
        elif key in SCHEMA_LISTS:
            out[key] = [convert_schema(sub, f"{here}[{i}]") for i, sub in enumerate(value)]
        elif key in SCHEMA_ONE and isinstance(value, dict):
            out[key] = convert_schema(value, here)
        else:
            out[key] = value
    if "nullable" in out and "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def convert(node, where=""):
    """Walks the document; every `schema` (and components/schemas entry) is
    converted as a schema, everything else is copied."""
    if isinstance(node, list):
        return [convert(item, f"{where}[{i}]") for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        here = f"{where}/{key}"
        if where == "/components" and key == "schemas":
            out[key] = {name: convert_schema(s, f"{here}/{name}") for name, s in value.items()}
        elif key == "schema" and isinstance(value, dict):
            out[key] = convert_schema(value, here)
        else:
            out[key] = convert(value, here)
    return out


def converted(source):
    if not str(source.get("openapi", "")).startswith("3.1"):
        raise Unsupported(f"openapi.yaml is OpenAPI {source.get('openapi')}, not 3.1")
    for key in ("webhooks", "jsonSchemaDialect"):
        if key in source:
            raise Unsupported(f"/{key}: no 3.0 equivalent")
    info = source.get("info", {})
    if "summary" in info or "identifier" in info.get("license", {}):
        raise Unsupported("/info: summary or license identifier (3.1 only)")
    document = convert(source)
    document["openapi"] = "3.0.3"
    return document


def first_difference(a, b, where=""):
    if type(a) is not type(b):
        return f"{where or '/'}: {a!r} != {b!r}"
    if isinstance(a, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{where}/{key}: only in {'the copy' if key in a else 'the conversion'}"
            found = first_difference(a[key], b[key], f"{where}/{key}")
            if found:
                return found
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{where}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{where}: {a!r} != {b!r}"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        sys.exit(__doc__)
    try:
        document = converted(yaml.safe_load(SOURCE.read_text()))
    except Unsupported as error:
        sys.exit(f"openapi_30.py: {error}")
    if check:
        if not TARGET.exists():
            sys.exit(f"openapi_30.py: {TARGET.name} is missing: run python3 scripts/openapi_30.py")
        text = TARGET.read_text()
        difference = first_difference(yaml.safe_load(text), document)
        if difference or not text.startswith(HEADER):
            sys.exit(
                f"openapi_30.py: {TARGET.name} is out of step with openapi.yaml "
                f"({difference or 'header'}): run python3 scripts/openapi_30.py"
            )
        print(f"{TARGET.name} is in step with openapi.yaml")
        return
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    TARGET.write_text(HEADER + body)
    print(f"wrote {TARGET.name}")


if __name__ == "__main__":
    main(sys.argv)
