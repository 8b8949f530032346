#include "api/api_page.h"

namespace tendril::api {
namespace {

// Kept in one literal so the page is one file on the wire. Rules for editing it: data from
// the OpenAPI document or a reply reaches the DOM through textContent / createTextNode only,
// never innerHTML; no URL outside this server; the token lives in `token` only.
constexpr const char* kPage = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'">
<title>Tendril API</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 64rem; padding: 1rem; color: #1d2330; }
header { display: flex; flex-wrap: wrap; gap: .75rem; align-items: center; border-bottom: 1px solid #ccd; padding-bottom: .75rem; }
h1 { font-size: 1.4rem; margin: 0 1rem 0 0; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; text-transform: capitalize; }
details { border: 1px solid #ccd; border-radius: 4px; margin: .4rem 0; }
summary { cursor: pointer; padding: .4rem .6rem; display: flex; gap: .6rem; align-items: baseline; }
.op { padding: 0 .8rem .8rem; }
.method { font: bold 12px monospace; min-width: 4.2rem; text-align: center; padding: 2px 4px; border-radius: 3px; color: #fff; background: #667; }
.GET { background: #2a6fb0; } .POST { background: #2f8a4c; } .PUT { background: #a06a12; }
.PATCH { background: #7a4bb0; } .DELETE { background: #b03a2e; }
.path { font-family: monospace; font-weight: bold; }
.muted { color: #5a6170; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .6rem; }
th, td { text-align: left; border-bottom: 1px solid #e3e5ea; padding: .2rem .4rem; vertical-align: top; }
code, pre, input, textarea, select { font-family: monospace; font-size: 13px; }
pre { background: #f4f5f8; padding: .5rem; overflow: auto; max-height: 24rem; white-space: pre-wrap; }
form.try label { display: block; margin: .3rem 0; }
form.try input, form.try textarea, form.try select { width: 100%; box-sizing: border-box; }
#error { color: #b03a2e; }
</style>
</head>
<body>
<header>
<h1>Tendril API</h1>
<span id="version" class="muted"></span>
<label>Token or API key <input id="token" type="password" autocomplete="off" size="40"></label>
<span class="muted">kept in this page only; sent as Bearer, or as X-API-Key when it starts with tdk_</span>
</header>
<p id="error"></p>
<main id="operations"><p class="muted">Loading the OpenAPI document&hellip;</p></main>
<script>
"use strict";
let token = "";
document.getElementById("token").addEventListener("input", function (event) { token = event.target.value; });

// Creates an element; children are elements or strings (inserted as text, never as markup).
function el(tag, className, children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children || []) {
    node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function typeText(schema) {
  const type = Array.isArray(schema.type) ? schema.type.join(" | ") : String(schema.type || "");
  return schema.format === "password" ? type + " (secret)" : type;
}

function limitsText(schema) {
  const parts = [];
  const pair = function (label, low, high) {
    if (low !== undefined && high !== undefined) parts.push(label + " " + low + "–" + high);
    else if (low !== undefined) parts.push(label + " ≥ " + low);
    else if (high !== undefined) parts.push(label + " ≤ " + high);
  };
  pair("length", schema.minLength, schema.maxLength);
  pair("items", schema.minItems, schema.maxItems);
  pair("value", schema.minimum, schema.maximum);
  if (schema.pattern) parts.push("pattern " + schema.pattern);
  if (Array.isArray(schema.enum)) parts.push("one of " + schema.enum.join(", "));
  if (schema.default !== undefined) parts.push("default " + JSON.stringify(schema.default));
  return parts.join("; ");
}

// Fields of one operation: path and query parameters, then body properties.
function fieldsOf(operation) {
  const fields = [];
  for (const p of operation.parameters || []) {
    fields.push({ name: p.name, where: p.in, required: !!p.required, schema: p.schema || {},
                  description: p.description || "" });
  }
  const body = operation.requestBody && operation.requestBody.content &&
               operation.requestBody.content["application/json"];
  const schema = body && body.schema ? body.schema : {};
  const required = schema.required || [];
  for (const [name, property] of Object.entries(schema.properties || {})) {
    fields.push({ name: name, where: "body", required: required.includes(name), schema: property,
                  description: property.description || "" });
  }
  return fields;
}

function fieldTable(fields) {
  const head = el("tr", "", ["name", "in", "type", "required", "limits", "description"].map(
      function (h) { return el("th", "", [h]); }));
  const rows = fields.map(function (f) {
    return el("tr", "", [el("td", "", [el("code", "", [f.name])]), el("td", "", [f.where]),
                         el("td", "", [typeText(f.schema)]), el("td", "", [f.required ? "yes" : ""]),
                         el("td", "", [limitsText(f.schema)]), el("td", "", [f.description])]);
  });
  return el("table", "", [el("thead", "", [head]), el("tbody", "", rows)]);
}

function responseTable(responses) {
  const rows = Object.entries(responses || {}).map(function (entry) {
    return el("tr", "", [el("td", "", [el("code", "", [entry[0]])]),
                         el("td", "", [String(entry[1].description || "")])]);
  });
  return el("table", "", [el("tbody", "", rows)]);
}

// The JSON text of one body value typed into the form.
function jsonValue(field, text) {
  const type = Array.isArray(field.schema.type) ? field.schema.type[0] : field.schema.type;
  if (type === "integer" || type === "number") {
    return /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(text) ? text : JSON.stringify(text);
  }
  if (type === "object" || type === "array" || type === "boolean") return text;
  return JSON.stringify(text);
}

function tryForm(method, path, operation) {
  const fields = fieldsOf(operation);
  const inputs = [];
  const form = el("form", "try", []);
  for (const f of fields) {
    const type = Array.isArray(f.schema.type) ? f.schema.type[0] : f.schema.type;
    let input;
    if (type === "boolean") {
      input = el("select", "", [el("option", "", [""]), el("option", "", ["true"]),
                                el("option", "", ["false"])]);
    } else if (type === "object" || type === "array") {
      input = el("textarea", "", []);
      input.rows = 3;
    } else {
      input = el("input", "", []);
      input.type = f.schema.format === "password" ? "password" : "text";
      input.autocomplete = "off";
    }
    inputs.push({ field: f, input: input });
    form.appendChild(el("label", "", [f.name + " (" + f.where + (f.required ? ", required" : "") + ")", input]));
  }
  const output = el("pre", "", []);
  output.hidden = true;
  const send = el("button", "", ["Send"]);
  send.type = "submit";
  form.appendChild(send);
  form.appendChild(output);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    let url = path;
    const query = [];
    const body = [];
    for (const item of inputs) {
      const value = item.input.value;
      const f = item.field;
      if (f.where === "path") url = url.split("{" + f.name + "}").join(encodeURIComponent(value));
      else if (value === "") continue;
      else if (f.where === "query") query.push(encodeURIComponent(f.name) + "=" + encodeURIComponent(value));
      else body.push(JSON.stringify(f.name) + ":" + jsonValue(f, value));
    }
    if (query.length > 0) url += "?" + query.join("&");
    const request = { method: method, headers: {} };
    if (token.startsWith("tdk_")) request.headers["X-API-Key"] = token;
    else if (token !== "") request.headers["Authorization"] = "Bearer " + token;
    if (method === "POST" || method === "PUT" || method === "PATCH") {
      request.headers["Content-Type"] = "application/json";
      request.body = "{" + body.join(",") + "}";
    }
    output.hidden = false;
    output.textContent = method + " " + url + " …";
    fetch(url, request).then(function (response) {
      return response.text().then(function (text) {
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (ignored) { /* not JSON */ }
        output.textContent = response.status + " " + response.statusText + "\n\n" + shown;
      });
    }).catch(function (failure) { output.textContent = "request failed: " + String(failure); });
  });
  return form;
}

function operationView(method, path, operation) {
  const upper = method.toUpperCase();
  const badge = el("span", "method", [upper]);
  badge.classList.add(upper.replace(/[^A-Z]/g, ""));
  const summary = el("summary", "", [badge, el("span", "path", [path]),
                                     el("span", "muted", [String(operation.summary || "")])]);
  const body = el("div", "op", []);
  if (operation.description) body.appendChild(el("p", "", [String(operation.description)]));
  const roles = (operation["x-roles"] || []).join(", ") || "none";
  body.appendChild(el("p", "muted", ["operation " + String(operation.operationId || "") +
                                     " · roles (default policy): " + roles]));
  const fields = fieldsOf(operation);
  if (fields.length > 0) body.appendChild(fieldTable(fields));
  body.appendChild(el("h4", "", ["Responses"]));
  body.appendChild(responseTable(operation.responses));
  body.appendChild(el("h4", "", ["Try it"]));
  body.appendChild(tryForm(upper, path, operation));
  return el("details", "", [summary, body]);
}

function render(doc) {
  document.getElementById("version").textContent = "version " + String((doc.info || {}).version || "");
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, operation] of Object.entries(item)) {
      const tag = (operation.tags && operation.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operationView(method, path, operation));
    }
  }
  const main = document.getElementById("operations");
  main.replaceChildren();
  for (const tag of Array.from(groups.keys()).sort()) {
    main.appendChild(el("h2", "", [tag]));
    for (const view of groups.get(tag)) main.appendChild(view);
  }
}

fetch("/api/v1/openapi.json").then(function (response) {
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.json();
}).then(render).catch(function (failure) {
  document.getElementById("error").textContent = "Cannot load the OpenAPI document: " + String(failure);
});
</script>
</body>
</html>
)page";

}  // namespace

std::string apiPageHtml() { return kPage; }

}  // namespace tendril::api
