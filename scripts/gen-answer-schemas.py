#!/usr/bin/env python3
"""Writes src/client/answer_schema.rs: the layout of every Kafka answer
kafkademo decodes, read from Kafka's own message schemas (the
common/message/*Response.json files inside kafka-clients), for the schema
walker in src/client/answer_check.rs.

A one-off, run by hand when kafkademo decodes a new API or moves to a newer
kafka-protocol (whose versions the unit tests check the table covers):

    python3 scripts/gen-answer-schemas.py .kafka/lib/4.4.0/kafka-clients-4.4.0.jar \
        > src/client/answer_schema.rs

(answer_check.rs keeps rustfmt off the table: one line per field.)
"""

import json
import sys
import zipfile

# The answers kafkademo decodes: every `XRequest` built under src/client
# (grep -rn 'Request::default()\|Request {' src/client).
APIS = """
    AddOffsetsToTxn AddPartitionsToTxn AlterPartitionReassignments ApiVersions
    CreatePartitions CreateTopics DeleteGroups DeleteRecords DeleteTopics
    DescribeCluster DescribeConfigs DescribeGroups DescribeTransactions
    ElectLeaders EndTxn Fetch FindCoordinator Heartbeat
    IncrementalAlterConfigs InitProducerId JoinGroup LeaveGroup ListGroups
    ListOffsets ListPartitionReassignments ListTransactions Metadata
    OffsetCommit OffsetFetch Produce SaslAuthenticate SaslHandshake SyncGroup
    TxnOffsetCommit
""".split()

# Data kafkademo decodes inside answers: the consumer protocol's
# subscription and assignment bytes (JoinGroup, SyncGroup, DescribeGroups),
# common/message/NAME.json.
DATA = ["ConsumerProtocolAssignment", "ConsumerProtocolSubscription"]

FIXED = {"int8": 1, "bool": 1, "int16": 2, "uint16": 2, "int32": 4,
         "int64": 8, "float64": 8, "uuid": 16}


def strip_comments(text):
    """Drops // comments outside strings (the schemas are JSON with them)."""
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("//", i):
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def versions(spec):
    """'3+' -> (3, MAX); '0-4' -> (0, 4); '5' -> (5, 5); none -> empty."""
    if spec is None or spec == "none":
        return "NONE"
    if spec.endswith("+"):
        return f"({int(spec[:-1])}, MAX)"
    if "-" in spec:
        lo, hi = spec.split("-")
        return f"({int(lo)}, {int(hi)})"
    return f"({int(spec)}, {int(spec)})"


def upper_snake(name):
    out = ""
    for i, c in enumerate(name):
        if c.isupper() and i > 0 and not name[i - 1].isupper():
            out += "_"
        out += c.upper()
    return out


class Gen:
    def __init__(self):
        self.statics = []  # (name, [field lines])
        self.done = {}

    def struct(self, api, name, fields, common):
        """Emits a static for `fields` (once), returns its name."""
        lines = [self.field(api, f, common) for f in fields]
        if name in self.done:
            assert self.done[name] == lines, f"two layouts named {name}"
            return name
        self.done[name] = lines
        self.statics.append((name, lines))
        return name

    def kind(self, prefix, f, typ, common):
        if typ.startswith("[]"):
            return f"Kind::Array(&{self.kind(prefix, f, typ[2:], common)})"
        if typ in FIXED:
            return f"Kind::Fixed({FIXED[typ]})"
        if typ == "string":
            return "Kind::String"
        if typ in ("bytes", "records"):
            return "Kind::Bytes"
        fields = f.get("fields")
        if fields is None:
            fields = common[typ]
        name = upper_snake(prefix) + "_" + upper_snake(typ)
        return f"Kind::Struct(&{self.struct(prefix, name, fields, common)})"

    def field(self, prefix, f, common):
        kind = self.kind(prefix, f, f["type"], common)
        tag = f.get("tag", -1)
        tagged = versions(f.get("taggedVersions")) if tag != -1 else "NONE"
        return (f"    F {{ kind: {kind}, versions: {versions(f['versions'])}, "
                f"nullable: {versions(f.get('nullableVersions'))}, tag: {tag}, "
                f"tagged: {tagged} }}, // {f['name']}")


def main():
    jar = zipfile.ZipFile(sys.argv[1])
    gen = Gen()

    def message(name):
        """The schema of common/message/NAME.json as a `Message` literal
        (its API key: -1 for data with no API of its own)."""
        schema = json.loads(strip_comments(jar.read(f"common/message/{name}.json").decode()))
        common = {s["name"]: s["fields"] for s in schema.get("commonStructs", [])}
        root = gen.struct(name.removesuffix("Response"), upper_snake(name.removesuffix("Response")),
                          schema["fields"], common)
        flexible = schema.get("flexibleVersions", "none")
        flexible_from = "NEVER" if flexible == "none" else int(flexible.rstrip("+"))
        return (f"Message {{ key: {schema.get('apiKey', -1)}, "
                f"versions: {versions(schema['validVersions'])}, "
                f"flexible_from: {flexible_from}, fields: &{root} }}")

    messages = [f"    // {api}\n    {message(api + 'Response')}," for api in sorted(APIS)]
    data = [f"\n/// {name} (common/message/{name}.json), no API key of its own.\n"
            f"pub static {upper_snake(name)}_DATA: Message = {message(name)};"
            for name in DATA]

    print(f"""// @generated by scripts/gen-answer-schemas.py from Kafka's message schemas
// ({sys.argv[1].rsplit('/', 1)[-1]}, common/message/*Response.json). Do not edit by hand.

//! The layout of every answer kafkademo decodes, field by field and version
//! by version, as Kafka's own message schemas define it: the table the
//! answer walker (`answer_check`) reads, generated rather than written so
//! it follows Kafka exactly.

/// A range of versions, both ends included (empty when the first is larger).
pub type Versions = (i16, i16);

const MAX: i16 = i16::MAX;
const NONE: Versions = (1, 0);
const NEVER: i16 = i16::MAX;

/// What a field holds on the wire.
pub enum Kind {{
    /// A number (or bool, uuid) of this many bytes.
    Fixed(u8),
    /// A (nullable) string: an i16 length, or compact.
    String,
    /// (Nullable) bytes or records: an i32 length, or compact.
    Bytes,
    /// An array whose items are all of this kind.
    Array(&'static Kind),
    /// A struct of these fields (and tagged fields in flexible versions).
    Struct(&'static [F]),
}}

/// One field of a struct.
pub struct F {{
    pub kind: Kind,
    pub versions: Versions,
    pub nullable: Versions,
    /// Its tag when it is a tagged field, else -1.
    pub tag: i32,
    pub tagged: Versions,
}}

/// One answer: its API key, the versions Kafka defines, the first flexible
/// version (KIP-482: compact lengths and tagged fields) and its fields.
pub struct Message {{
    pub key: i16,
    pub versions: Versions,
    pub flexible_from: i16,
    pub fields: &'static [F],
}}

pub static MESSAGES: &[Message] = &[""")
    print("\n".join(messages))
    print("];")
    print("\n".join(data))
    for name, lines in gen.statics:
        print(f"\nstatic {name}: [F; {len(lines)}] = [")
        print("\n".join(lines))
        print("];")


main()
