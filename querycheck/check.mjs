#!/usr/bin/env node
// Checks LogQL, TraceQL and PromQL with the Lezer grammars Grafana's query editors use,
// plus what the servers refuse although the grammar accepts it.
//
//   node check.mjs < queries.jsonl      one {"lang", "query", "where"} per line
//
// Prints one JSON line per query: {where, lang, ok, errors: [{rule, from, to, line, column,
// message}]}; the first error is the grammar's first error node.  Exit code 1 when any
// query has an error, 2 when the input is not such JSON lines.
import { createInterface } from 'node:readline';

import { parser as logql } from '@grafana/lezer-logql';
import { parser as traceql } from '@grafana/lezer-traceql';
import { parser as promql } from '@prometheus-io/lezer-promql';

const PARSERS = { logql, traceql, promql };
const STRING_NODES = { logql: ['String'], traceql: ['String'], promql: ['StringLiteral'] };
const REGEX_OPS = new Set(['=~', '!~', '|~']);

function position(query, offset) {
  const before = query.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1].length + 1 };
}

function error(query, rule, from, to, message) {
  return { rule, from, to, ...position(query, from), message };
}

// Loki, Prometheus and Tempo unquote string literals the way Go's strconv.Unquote does.
const SIMPLE_ESCAPES = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

function unquote(literal) {
  const quote = literal[0];
  const body = literal.slice(1, -1);
  if (quote === '`') return body.includes('`') ? { bad: 'a backquote inside a raw string' } : { value: body };
  if (literal.length < 2 || literal.at(-1) !== quote) return { bad: 'the string is not closed' };
  let value = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\n') return { bad: 'a line break inside a quoted string' };
    if (c === quote) return { bad: `an unescaped ${quote} inside the string` };
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = body[++i];
    const hex = { x: 2, u: 4, U: 8 }[e];
    if (e in SIMPLE_ESCAPES) value += SIMPLE_ESCAPES[e];
    else if (e === quote) value += e;
    else if (hex && /^[0-9a-fA-F]+$/.test(body.substr(i + 1, hex)) && body.substr(i + 1, hex).length === hex) {
      value += String.fromCodePoint(parseInt(body.substr(i + 1, hex), 16));
      i += hex;
    } else if (/^[0-7]{3}$/.test(body.substr(i, 3))) {
      value += String.fromCharCode(parseInt(body.substr(i, 3), 8));
      i += 2;
    } else return { bad: `the unknown escape \\${e ?? ''}` };
  }
  return { value };
}

// Go's RE2: no look-around, no back-references; (?flags) only as a prefix here.
function compileRegex(source) {
  if (/\(\?<?[=!]|\\[1-9]/.test(source)) return { bad: 'look-around or a back-reference (RE2 has neither)' };
  const flags = /^\(\?([imsU]+)\)/.exec(source);
  const body = (flags ? source.slice(flags[0].length) : source).replaceAll('(?P<', '(?<');
  try {
    return { regex: new RegExp(`^(?:${body})$`, flags?.[1].includes('i') ? 'i' : '') };
  } catch (e) {
    return { bad: e.message };
  }
}

function children(node) {
  const out = [];
  for (let child = node.firstChild; child; child = child.nextSibling) out.push(child);
  return out;
}

// A matcher as [label, op, value]; undefined when the grammar already reported it as broken.
function matcherParts(query, node, lang) {
  const parts = children(node);
  const op = parts.find((p) => ['Eq', 'Neq', 'Re', 'Nre', 'MatchOp'].includes(p.name));
  const str = parts.find((p) => STRING_NODES[lang].includes(p.name));
  if (!op || !str) return undefined;
  const value = unquote(query.slice(str.from, str.to)).value;
  return value === undefined ? undefined : [op && query.slice(op.from, op.to), value];
}

function matchesEmpty([op, value]) {
  if (op === '=') return value === '';
  if (op === '!=') return value !== '';
  const { regex } = compileRegex(value);
  if (!regex) return false; // reported by the regex rule
  return regex.test('') === (op === '=~');
}

function check(lang, query) {
  if (!query.trim()) return [error(query, 'syntax', 0, 0, `${lang} syntax error: empty query`)];
  const tree = PARSERS[lang].parse(query);
  const errors = [];
  let firstSyntax;
  tree.iterate({
    enter(ref) {
      const node = ref.node;
      if (node.type.isError) {
        firstSyntax ??= node;
        return false;
      }
      const text = query.slice(node.from, node.to);
      if (STRING_NODES[lang].includes(node.name)) {
        const { bad } = unquote(text);
        if (bad) errors.push(error(query, 'string', node.from, node.to, `string literal ${text}: ${bad}`));
      }
      const regexOp = ['Re', 'Nre', 'PipeMatch', 'EqlRegex', 'NeqRegex', 'FieldOp'].includes(node.name) && REGEX_OPS.has(text);
      if (regexOp) {
        let operand = node.nextSibling ?? node.parent?.nextSibling;
        while (operand && !STRING_NODES[lang].includes(operand.name) && operand.firstChild) operand = operand.firstChild;
        const value = operand && STRING_NODES[lang].includes(operand.name) && unquote(query.slice(operand.from, operand.to)).value;
        const { bad } = typeof value === 'string' ? compileRegex(value) : {};
        if (bad) errors.push(error(query, 'regex', node.from, node.to, `regular expression ${JSON.stringify(value)}: ${bad}`));
      }
      if (lang === 'logql' && node.name === 'Selector') {
        // Loki: "queries require at least one regexp or equality matcher that does not have an
        // empty-compatible value"; != and !~ never count.
        const matchers = node.getChildren('Matchers').flatMap(function all(m) {
          return [...m.getChildren('Matcher'), ...m.getChildren('Matchers').flatMap(all)];
        });
        const parts = matchers.map((m) => matcherParts(query, m, lang)).filter(Boolean);
        if (parts.length === matchers.length && !parts.some((p) => ['=', '=~'].includes(p[0]) && !matchesEmpty(p))) {
          errors.push(
            error(query, 'loki-empty-selector', node.from, node.to,
              `stream selector ${text} has no = or =~ matcher that needs a non-empty value; Loki answers 400`),
          );
        }
      }
      if (lang === 'promql' && node.name === 'VectorSelector') {
        // Prometheus: "vector selector must contain at least one non-empty matcher".
        const hasName = node.getChild('Identifier');
        const matchers = [];
        node.getChild('LabelMatchers')?.cursor().iterate((m) => {
          if (m.name === 'QuotedLabelName' && m.node.parent.name === 'LabelMatchers') matchers.push(['=', 'name']);
          if (m.name.endsWith('LabelMatcher')) matchers.push(matcherParts(query, m.node, lang));
        });
        if (!hasName && matchers.every(Boolean) && matchers.every(matchesEmpty)) {
          errors.push(error(query, 'prometheus-empty-selector', node.from, node.to,
            `vector selector ${text} has no matcher that needs a non-empty value; Prometheus refuses it`));
        }
      }
      return undefined;
    },
  });
  if (firstSyntax) {
    const near = query.slice(firstSyntax.from, Math.max(firstSyntax.to, firstSyntax.from + 1));
    const what = near ? `unexpected ${JSON.stringify(near)}` : 'unexpected end of query';
    errors.unshift(error(query, 'syntax', firstSyntax.from, firstSyntax.to, `${lang} syntax error: ${what}`));
  }
  return errors;
}

let failed = false;
let broken = false;
for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
  if (!line.trim()) continue;
  let item;
  try {
    item = JSON.parse(line);
  } catch (e) {
    item = undefined;
  }
  if (!item || !(item.lang in PARSERS) || typeof item.query !== 'string') {
    process.stderr.write(`not a {"lang": logql|traceql|promql, "query": string} line: ${line.slice(0, 200)}\n`);
    broken = true;
    continue;
  }
  const errors = check(item.lang, item.query);
  failed ||= errors.length > 0;
  process.stdout.write(JSON.stringify({ where: item.where ?? '', lang: item.lang, ok: !errors.length, errors }) + '\n');
}
process.exitCode = broken ? 2 : failed ? 1 : 0;
