"""What an AWS API request on the wire asks for: (service, operation, botocore-style parameters).

`parse(request)` reads one HTTP request the way an AWS front end would, by the protocol of the
service's botocore model, and returns an `ApiCall` whose `params` botocore's `ParamValidator` can
check. It reverses botocore's serializers (the `botocore.serialize` module):

- service: the SigV4 credential scope (`Credential=AKID/date/region/SERVICE/aws4_request`), as
  AWS routes on the signing name, not the host (the emulator has one host for all services);
- query and ec2 (form-encoded, `Action=`): the flat `A.member.1.B` keys are walked along the input
  shape (ec2 lists have no `.member`, names come from queryName or the capitalized locationName);
- json (awsJson 1.0/1.1, `X-Amz-Target: Prefix.Operation`) and smithy-rpc-v2-cbor (`/service/S/
  operation/Op`): the body document, members renamed from their locationName;
- rest-json and rest-xml (S3): the operation whose `requestUri` template fits method, path and
  literal query keys best, then URI labels, query string, headers and the body or payload member.
  S3 must be addressed path-style (http://host/bucket/key), as everything is on the emulator.

Wire values are converted to the member's type only when they say so ("12" for an integer): a value
that does not convert stays a string, so the validator reports the type error AWS would. Keys the
input shape has no member for are `problems` (AWS rejects unknown query parameters; for JSON and XML
bodies the validator reports them as unknown fields). Anything that cannot be read at all raises
`Unparseable`, which callers count as a failure.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.utils import parse_timestamp

# Signing names that are not the botocore service name (others are looked up in every model once).
SIGNING_NAME_ALIASES = {"monitoring": ("cloudwatch",), "s3": ("s3", "s3control")}
# Query parameters every REST request may carry besides the model's members: SigV4 presigning, and
# the SDKs' routing hint `x-id` (the S3 model lists it for a few operations only).
REST_EXTRA_QUERY = re.compile(
    r"^(x-id|X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|"
    r"Security-Token|Checksum-Mode|User-Agent))$"
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_MISSING = object()


class Unparseable(Exception):
    """The request cannot be read as a call of any operation: AWS would reject it too."""


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    """Raw path, still percent-encoded, without the query string."""
    query: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes = b""


@dataclass
class ApiCall:
    service: str
    operation: str
    params: dict
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(member or wire key, problem) found while reading the wire format."""
    alternatives: list[ApiCall] = field(default_factory=list)
    """Other operations the same wire request can be (REST operations sharing method and URI)."""

    def model(self) -> OperationModel:
        return service_model(self.service).operation_model(self.operation)


@functools.cache
def service_model(name: str) -> ServiceModel:
    return _session().get_service_model(name)


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def services_signing_as(signing_name: str) -> tuple[str, ...]:
    """botocore services whose requests are signed for `signing_name`."""
    if signing_name in SIGNING_NAME_ALIASES:
        return SIGNING_NAME_ALIASES[signing_name]
    available = _session().get_available_services()
    if signing_name in available and service_model(signing_name).signing_name == signing_name:
        return (signing_name,)
    # Only a name we have not met costs a scan of every model (seconds, once).
    return tuple(s for s in available if service_model(s).signing_name == signing_name)


def signing_name_of(request: HttpRequest) -> str:
    scope = _CREDENTIAL_SCOPE.search(request.headers.get("authorization", ""))
    if not scope:
        credential = dict(parse_qsl(request.query)).get("X-Amz-Credential", "")
        scope = _CREDENTIAL_SCOPE.search(f"Credential={credential}")
    if not scope:
        raise Unparseable("no SigV4 signature (Authorization header or X-Amz-Credential): AWS cannot route it")
    return scope.group(1)


def parse(request: HttpRequest) -> ApiCall:
    """The call `request` makes; raises Unparseable."""
    signing_name = signing_name_of(request)
    candidates = services_signing_as(signing_name)
    if not candidates:
        raise Unparseable(f"signed for {signing_name!r}, which no botocore service model signs as")
    failures = []
    for service in candidates:
        try:
            return _parse_for(service_model(service), request)
        except Unparseable as exc:
            failures.append(str(exc))
    raise Unparseable("; ".join(failures))


def _parse_for(model: ServiceModel, request: HttpRequest) -> ApiCall:
    body = _decoded_body(request)
    headers = request.headers
    protocols = model.metadata.get("protocols") or [model.protocol]
    if headers.get("smithy-protocol") == "rpc-v2-cbor" and "smithy-rpc-v2-cbor" in protocols:
        return _parse_cbor(model, request.path, body)
    if "x-amz-target" in headers and "json" in protocols:
        return _parse_json(model, headers["x-amz-target"], body)
    if model.protocol in ("rest-json", "rest-xml"):
        return _parse_rest(model, request, body)
    form = parse_qsl(request.query, keep_blank_values=True)
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        form += parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    if any(k == "Action" for k, _ in form) and ({"query", "ec2"} & set(protocols)):
        return _parse_form(model, dict(form), ec2="ec2" in protocols)
    raise Unparseable(f"not a request of any {model.service_name} protocol ({', '.join(protocols)})")


def _decoded_body(request: HttpRequest) -> bytes:
    encodings = [e.strip() for e in request.headers.get("content-encoding", "").split(",") if e.strip()]
    body = request.body
    for encoding in reversed(encodings):
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding not in ("identity", "aws-chunked"):
            raise Unparseable(f"unknown Content-Encoding {encoding!r}")
    return body


def _operation(model: ServiceModel, name: str) -> OperationModel:
    if name not in model.operation_names:
        raise Unparseable(f"{model.service_name} has no operation {name!r}")
    return model.operation_model(name)


# --- query and ec2 ---------------------------------------------------------------------------------


def _parse_form(model: ServiceModel, form: dict[str, str], ec2: bool) -> ApiCall:
    op = _operation(model, form.pop("Action"))
    call = ApiCall(model.service_name, op.name, {})
    version = form.pop("Version", None)
    if version != model.api_version:
        call.problems.append(("Version", f"{version!r} is not the API version {model.api_version!r}"))
    used: set[str] = set()
    if op.input_shape is not None:
        call.params = _from_form(op.input_shape, "", form, used, ec2)
        if call.params is _MISSING:
            call.params = {}
    call.problems += [(key, "unknown parameter") for key in form if key not in used]
    return call


def _form_name(shape: Shape, default: str, ec2: bool) -> str:
    """The wire name of a structure member (botocore QuerySerializer / EC2Serializer)."""
    ser = shape.serialization
    if ec2:
        if "queryName" in ser:
            return ser["queryName"]
        return ser["name"][0].upper() + ser["name"][1:] if "name" in ser else default
    return ser.get("name", default)


def _has_prefix(form: dict[str, str], prefix: str) -> bool:
    dotted = prefix + "."
    return any(key.startswith(dotted) for key in form)


def _indices(form: dict[str, str], prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)(?:\.|$)")
    return sorted({int(m.group(1)) for key in form if (m := pattern.match(key))})


def _from_form(shape: Shape, prefix: str, form: dict[str, str], used: set[str], ec2: bool) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if prefix and not _has_prefix(form, prefix):
            return _MISSING
        out = {}
        for name, member in shape.members.items():
            key = _form_name(member, name, ec2)
            value = _from_form(member, f"{prefix}.{key}" if prefix else key, form, used, ec2)
            if value is not _MISSING:
                out[name] = value
        return out
    if kind == "list":
        return _list_from_form(shape, prefix, form, used, ec2)
    if kind == "map":
        return _map_from_form(shape, prefix, form, used, ec2)
    if prefix not in form:
        return _MISSING
    used.add(prefix)
    return scalar(shape, form[prefix])


def _list_from_form(shape: Shape, prefix: str, form: dict[str, str], used: set[str], ec2: bool) -> Any:
    if not ec2 and form.get(prefix) == "" and not _has_prefix(form, prefix):
        used.add(prefix)
        return []  # the query protocol's empty list
    if ec2:
        list_prefix = prefix
    elif shape.serialization.get("flattened"):
        name = shape.member.serialization.get("name")
        list_prefix = ".".join(prefix.split(".")[:-1] + [name]) if name else prefix
    else:
        list_prefix = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
    items = [_from_form(shape.member, f"{list_prefix}.{i}", form, used, ec2) for i in _indices(form, list_prefix)]
    return [item for item in items if item is not _MISSING] if items else _MISSING


def _map_from_form(shape: Shape, prefix: str, form: dict[str, str], used: set[str], ec2: bool) -> Any:
    entries = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
    key_name = _form_name(shape.key, "key", False)
    value_name = _form_name(shape.value, "value", False)
    out = {}
    for i in _indices(form, entries):
        key = _from_form(shape.key, f"{entries}.{i}.{key_name}", form, used, ec2)
        value = _from_form(shape.value, f"{entries}.{i}.{value_name}", form, used, ec2)
        if key is not _MISSING:
            out[key] = None if value is _MISSING else value
    return out if out else _MISSING


def scalar(shape: Shape, text: str) -> Any:
    """A wire string as the member's type; left a string when it is not one (the validator says so)."""
    kind = shape.type_name
    if kind in ("integer", "long") and re.fullmatch(r"-?\d+", text.strip()):
        return int(text)
    if kind in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    if kind == "timestamp":
        try:
            return parse_timestamp(text)
        except (ValueError, TypeError, OverflowError):
            return text
    return text


# --- json and cbor ---------------------------------------------------------------------------------


def _parse_json(model: ServiceModel, target: str, body: bytes) -> ApiCall:
    prefix, _, name = target.rpartition(".")
    if prefix != model.metadata.get("targetPrefix"):
        raise Unparseable(f"X-Amz-Target {target!r} does not start with {model.metadata.get('targetPrefix')!r}")
    op = _operation(model, name)
    try:
        document = json.loads(body) if body.strip() else {}
    except ValueError as exc:
        raise Unparseable(f"{op.name}: body is not JSON ({exc})") from None
    return ApiCall(model.service_name, op.name, _from_document(op.input_shape, document))


def _parse_cbor(model: ServiceModel, path: str, body: bytes) -> ApiCall:
    from botocore.parsers import BaseCBORParser

    match = re.fullmatch(r"/service/([^/]+)/operation/([^/]+)", path)
    if not match:
        raise Unparseable(f"rpc-v2-cbor path {path!r} is not /service/NAME/operation/OPERATION")
    op = _operation(model, match.group(2))
    try:
        document = BaseCBORParser().parse_data_item(io.BytesIO(body)) if body else {}
    except Exception as exc:  # botocore raises various errors on malformed CBOR
        raise Unparseable(f"{op.name}: body is not CBOR ({exc})") from None
    return ApiCall(model.service_name, op.name, _from_document(op.input_shape, document))


def _from_document(shape: Shape | None, value: Any) -> Any:
    """A JSON/CBOR body value along its shape: members by wire name, timestamps as datetimes."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict) and not shape.is_document_type:
        members = {m.serialization.get("name", name): (name, m) for name, m in shape.members.items()}
        out = {}
        for key, item in value.items():
            if item is None:
                continue  # JSON null is an absent member
            name, member = members.get(key, (key, None))
            out[name] = _from_document(member, item)
        return out
    if kind == "list" and isinstance(value, list):
        return [_from_document(shape.member, item) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _from_document(shape.value, v) for k, v in value.items() if v is not None}
    if kind == "timestamp" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if kind == "timestamp" and isinstance(value, str):
        return scalar(shape, value)
    return value


# --- rest-json and rest-xml ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Route:
    operation: str
    method: str
    path: re.Pattern
    query: tuple[tuple[str, str | None], ...]
    """Literal query keys of the requestUri, with their value if it has one."""
    score: tuple[int, int]


@functools.cache
def _routes(service: str) -> tuple[_Route, ...]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = http["requestUri"].partition("?")
        pattern, literal = "", 0
        for part in re.split(r"(\{[^}]+\})", path):
            if part.startswith("{"):
                pattern += f"(?P<{_group(part)}>{'.+' if part.endswith('+}') else '[^/]+'})"
            else:
                pattern += re.escape(part)
                literal += len(part)
        literals = tuple(
            (k, v if "=" in item else None)
            for item in query.split("&")
            if item
            for k, _, v in [item.partition("=")]
            if k != "x-id"
        )
        routes.append(_Route(name, http["method"], re.compile(pattern), literals, (len(literals), literal)))
    return tuple(routes)


def _group(label: str) -> str:
    return "g_" + re.sub(r"\W", "_", label.strip("{}+"))


def _parse_rest(model: ServiceModel, request: HttpRequest, body: bytes) -> ApiCall:
    query = parse_qsl(request.query, keep_blank_values=True)
    keys = dict(query)
    fits = [
        r
        for r in _routes(model.service_name)
        if r.method == request.method
        and r.path.fullmatch(request.path)
        and all(k in keys and (v is None or keys[k] == v) for k, v in r.query)
    ]
    if not fits:
        raise Unparseable(f"no {model.service_name} operation is {request.method} {request.path}?{request.query}")
    best = max(r.score for r in fits)
    tied = sorted((r for r in fits if r.score == best), key=lambda r: model.operation_model(r.operation).deprecated)
    first, *others = [_rest_call(model, route, request, query, body) for route in tied]
    # Operations sharing method and URI (PutObject and CopyObject, GetBucketLifecycle and its
    # ...Configuration successor) differ by headers or body only: the checker takes the reading with
    # the fewest problems, the current operation first.
    first.alternatives = others
    return first


def _rest_call(
    model: ServiceModel, route: _Route, request: HttpRequest, query: list[tuple[str, str]], body: bytes
) -> ApiCall:
    op = model.operation_model(route.operation)
    call = ApiCall(model.service_name, op.name, {})
    shape = op.input_shape
    used_query = {k for k, _ in route.query}
    matched = route.path.fullmatch(request.path)
    labels = matched.groupdict() if matched else {}
    if shape is not None:
        payload = shape.serialization.get("payload")
        body_members = {}
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            if location not in _REQUEST_LOCATIONS:
                if name != payload:
                    body_members[name] = member
            else:
                value = _located_member(member, name, location, labels, request, query, used_query)
                if value is not _MISSING:
                    call.params[name] = value
        _rest_body(model, op.name, shape, payload, bool(body_members), body, call)
    call.problems += [
        (k, "unknown query parameter") for k, _ in query if k not in used_query and not REST_EXTRA_QUERY.match(k)
    ]
    return call


_REQUEST_LOCATIONS = ("uri", "querystring", "header", "headers")


def _located_member(
    member: Shape,
    name: str,
    location: str,
    labels: dict[str, str],
    request: HttpRequest,
    query: list[tuple[str, str]],
    used_query: set[str],
) -> Any:
    """A member read from the URI, the query string or the headers (_MISSING when absent)."""
    wire = member.serialization.get("name", name)
    if location == "uri":
        value = labels.get(_group("{" + wire + "}"))
        return _MISSING if value is None else scalar(member, unquote(value))
    if location == "querystring":
        return _query_member(member, wire, query, used_query)
    if location == "header":
        return _header(member, request.headers[wire.lower()]) if wire.lower() in request.headers else _MISSING
    if location == "headers":
        found = {h[len(wire) :]: v for h, v in request.headers.items() if h.startswith(wire.lower())}
        return found or _MISSING
    return _MISSING


def _rest_body(
    model: ServiceModel, op: str, shape: Shape, payload: str | None, has_body_members: bool, body: bytes, call: ApiCall
) -> None:
    if payload is not None:
        member = shape.members[payload]
        if body and member.type_name == "structure":
            call.params[payload] = _read_body(model, member, body, op)
        elif body:
            call.params[payload] = body.decode("utf-8", "replace") if member.type_name == "string" else body
    elif has_body_members and body.strip():
        found = _read_body(model, shape, body, op)
        call.params.update({k: v for k, v in found.items() if k not in call.params})


def _query_member(member: Shape, wire: str, query: list[tuple[str, str]], used: set[str]) -> Any:
    if member.type_name == "map":  # all query parameters not bound to another member
        return _MISSING
    values = [v for k, v in query if k == wire]
    if not values:
        return _MISSING
    used.add(wire)
    if member.type_name == "list":
        return [scalar(member.member, v) for v in values]
    return scalar(member, values[0])


def _header(member: Shape, text: str) -> Any:
    if member.type_name == "list":
        return [scalar(member.member, v.strip()) for v in text.split(",")]
    if member.type_name == "timestamp":
        return scalar(member, text)
    if member.serialization.get("jsonvalue"):
        try:
            return json.loads(base64.b64decode(text))
        except ValueError:
            return text
    return scalar(member, text)


def _read_body(model: ServiceModel, shape: Shape, body: bytes, op: str) -> Any:
    if model.protocol == "rest-json":
        try:
            return _from_document(shape, json.loads(body))
        except ValueError as exc:
            raise Unparseable(f"{op}: body is not JSON ({exc})") from None
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise Unparseable(f"{op}: body is not XML ({exc})") from None
    return _from_xml(shape, root)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _from_xml(shape: Shape, element: ElementTree.Element) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _structure_from_xml(shape, element)
    if kind == "list":
        return [_from_xml(shape.member, child) for child in element]
    if kind == "map":
        entries = [element] if shape.serialization.get("flattened") else list(element)
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out = {}
        for entry in entries:
            parts = {_local(c.tag): c for c in entry}
            if key_name in parts:
                value = parts.get(value_name)
                out[parts[key_name].text or ""] = _from_xml(shape.value, value) if value is not None else None
        return out
    return scalar(shape, element.text or "")


def _structure_from_xml(shape: Shape, element: ElementTree.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    by_wire = {m.serialization.get("name", name): (name, m) for name, m in shape.members.items()}
    for name, member in shape.members.items():
        if member.serialization.get("xmlAttribute"):
            wanted = _local(member.serialization.get("name", name).split(":")[-1])
            for attribute, value in element.attrib.items():
                if _local(attribute) == wanted:
                    out[name] = scalar(member, value)
    for child in element:
        name, member = by_wire.get(_local(child.tag), (_local(child.tag), None))
        if member is None:
            out[name] = child.text or ""  # unknown element: the validator names it
        elif member.type_name == "list" and member.serialization.get("flattened"):
            out.setdefault(name, []).append(_from_xml(member.member, child))
        else:
            out[name] = _from_xml(member, child)
    return out


def request_from_wsgi(environ: dict, body: bytes) -> HttpRequest:
    """An HttpRequest from a WSGI environ (werkzeug's RAW_URI keeps the path percent-encoded)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    path = raw.split("?", 1)[0]
    if "://" in path:  # absolute-form request target
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return HttpRequest(environ["REQUEST_METHOD"], path, environ.get("QUERY_STRING", ""), headers, body)


def agent_of(request: HttpRequest) -> str:
    """Who sent it, in one word: terraform (the AWS provider), boto3, or the first user-agent token."""
    agent = request.headers.get("user-agent", "")
    if "terraform" in agent.lower():
        return "terraform"
    if agent.startswith("Boto3/"):
        return "boto3"
    return agent.split("/", 1)[0] or "unknown"
