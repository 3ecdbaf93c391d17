import { createHash } from 'node:crypto';
import { stringify } from 'yaml';

/**
 * The subset of Go's text/template and Helm's functions that deploy/helm/berth uses, so the chart's
 * templates can be rendered and checked where helm cannot be installed. It is not helm: it knows
 * only the actions (if/else if/else, with, range, define, include, template, `$x :=`), whitespace
 * trimming and the functions listed in `functions` below, and throws on anything else, so a chart
 * change that steps outside the subset fails the test instead of rendering something wrong.
 */

type Value = unknown;
type Scope = { dot: Value; vars: Map<string, Value> };

type Operand =
  | { kind: 'field'; base: 'dot' | 'var'; name: string; path: string[] }
  | { kind: 'literal'; value: Value }
  | { kind: 'ident'; name: string }
  | { kind: 'pipe'; pipe: Pipeline };
type Command = Operand[];
interface Pipeline { decl?: string; cmds: Command[] }

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'out'; pipe: Pipeline }
  | { kind: 'if'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'with'; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'range'; vars: string[]; pipe: Pipeline; then: Node[]; else: Node[] }
  | { kind: 'template'; name: string; pipe: Pipeline | undefined };

export class TemplateError extends Error {}

/** Splits a template into text and the inside of its actions, applying `{{-` and `-}}` trimming. */
function lex(source: string, file: string): Array<{ text: string } | { action: string }> {
  const parts: Array<{ text: string } | { action: string }> = [];
  let i = 0;
  let trimNext = false;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    let text = source.slice(i, open < 0 ? source.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      parts.push({ text });
      break;
    }
    let j = open + 2;
    let inner: string;
    if (source.startsWith('- ', j) || source.startsWith('-\n', j)) {
      text = text.replace(/\s+$/, '');
      j += 2;
    }
    parts.push({ text });
    // Find the closing braces outside string literals.
    let k = j;
    let quote = '';
    for (; k < source.length; k++) {
      const c = source[k]!;
      if (quote) {
        if (c === '\\' && quote === '"') k++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === '`') quote = c;
      else if (source.startsWith('}}', k)) break;
    }
    if (k >= source.length) throw new TemplateError(`${file}: unclosed action at offset ${open}`);
    inner = source.slice(j, k);
    trimNext = false;
    if (/\s-$/.test(inner)) {
      inner = inner.slice(0, -2);
      trimNext = true;
    }
    inner = inner.trim();
    if (!(inner.startsWith('/*') && inner.endsWith('*/'))) parts.push({ action: inner });
    i = k + 2;
  }
  return parts;
}

function tokenize(action: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[()|,=]|[^\s()|,=]+)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(action)) !== null) tokens.push(m[1]!);
  return tokens;
}

function parsePipeline(tokens: string[], pos: { i: number }, file: string): Pipeline {
  const pipe: Pipeline = { cmds: [] };
  if (/^\$\w*$/.test(tokens[pos.i] ?? '') && tokens[pos.i + 1] === ':=') {
    pipe.decl = tokens[pos.i]!;
    pos.i += 2;
  }
  let cmd: Command = [];
  while (pos.i < tokens.length && tokens[pos.i] !== ')') {
    const t = tokens[pos.i++]!;
    if (t === '|') {
      pipe.cmds.push(cmd);
      cmd = [];
    } else if (t === '(') {
      cmd.push({ kind: 'pipe', pipe: parsePipeline(tokens, pos, file) });
      if (tokens[pos.i++] !== ')') throw new TemplateError(`${file}: missing )`);
    } else cmd.push(operand(t, file));
  }
  pipe.cmds.push(cmd);
  if (pipe.cmds.some((c) => c.length === 0)) throw new TemplateError(`${file}: empty command in pipeline`);
  return pipe;
}

function operand(t: string, file: string): Operand {
  if (t.startsWith('"')) return { kind: 'literal', value: JSON.parse(t) as string };
  if (t.startsWith('`')) return { kind: 'literal', value: t.slice(1, -1) };
  if (/^-?\d+$/.test(t)) return { kind: 'literal', value: Number(t) };
  if (t === 'true' || t === 'false') return { kind: 'literal', value: t === 'true' };
  if (t === 'nil') return { kind: 'literal', value: null };
  if (t === '.') return { kind: 'field', base: 'dot', name: '', path: [] };
  if (t.startsWith('.')) return { kind: 'field', base: 'dot', name: '', path: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [name, ...path] = t.split('.');
    return { kind: 'field', base: 'var', name: name!, path };
  }
  if (/^[A-Za-z_]\w*$/.test(t)) return { kind: 'ident', name: t };
  throw new TemplateError(`${file}: cannot parse "${t}"`);
}

/** Parses a template file; `define` blocks go into `defines`. */
function parse(source: string, file: string, defines: Map<string, Node[]>): Node[] {
  const parts = lex(source, file);
  let p = 0;
  const block = (stopAt: string[]): { nodes: Node[]; stop: string; rest: string[] } => {
    const nodes: Node[] = [];
    while (p < parts.length) {
      const part = parts[p++]!;
      if ('text' in part) {
        if (part.text) nodes.push({ kind: 'text', text: part.text });
        continue;
      }
      const tokens = tokenize(part.action);
      const head = tokens[0] ?? '';
      if (stopAt.includes(head)) return { nodes, stop: head, rest: tokens.slice(1) };
      const pos = { i: 1 };
      if (head === 'if' || head === 'with') {
        nodes.push(conditional(head, parsePipeline(tokens, pos, file)));
      } else if (head === 'range') {
        let vars: string[] = [];
        const assign = tokens.indexOf(':=');
        if (assign > 0) {
          vars = tokens.slice(1, assign).filter((t) => t !== ',');
          pos.i = assign + 1;
        }
        const pipe = parsePipeline(tokens, pos, file);
        const body = block(['else', 'end']);
        const elseNodes = body.stop === 'else' ? block(['end']).nodes : [];
        nodes.push({ kind: 'range', vars, pipe, then: body.nodes, else: elseNodes });
      } else if (head === 'define') {
        const name = JSON.parse(tokens[1]!) as string;
        defines.set(name, block(['end']).nodes);
      } else if (head === 'template') {
        pos.i = 2;
        nodes.push({ kind: 'template', name: JSON.parse(tokens[1]!) as string, pipe: tokens.length > 2 ? parsePipeline(tokens, pos, file) : undefined });
      } else if (['else', 'end', 'block', 'break', 'continue'].includes(head)) {
        throw new TemplateError(`${file}: unexpected or unsupported {{ ${head} }}`);
      } else {
        pos.i = 0;
        nodes.push({ kind: 'out', pipe: parsePipeline(tokens, pos, file) });
      }
    }
    if (stopAt.length > 0) throw new TemplateError(`${file}: missing {{ end }}`);
    return { nodes, stop: '', rest: [] };
  };
  const conditional = (kind: 'if' | 'with', pipe: Pipeline): Node => {
    const body = block(['else', 'end']);
    let elseNodes: Node[] = [];
    if (body.stop === 'else') {
      if (body.rest[0] === 'if') {
        // `else if` is an if nested in the else branch that shares the outer end.
        elseNodes = [conditional('if', parsePipeline(body.rest, { i: 1 }, file))];
      } else elseNodes = block(['end']).nodes;
    }
    return { kind, pipe, then: body.nodes, else: elseNodes };
  };
  return block([]).nodes;
}

function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function print(v: Value): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new TemplateError(`cannot print ${JSON.stringify(v)} (use toYaml)`);
}

function goPrintf(format: string, args: Value[]): string {
  let n = 0;
  return format.replace(/%([sdvq%])/g, (_m, verb: string) => {
    if (verb === '%') return '%';
    const a = args[n++];
    return verb === 'q' ? JSON.stringify(print(a)) : print(a);
  });
}

/** Helm's toYaml: keys sorted (Go maps), no trailing newline. */
function toYaml(v: Value): string {
  if (v === null || v === undefined) return 'null';
  return stringify(v, { sortMapEntries: true, indentSeq: false, lineWidth: 0 }).replace(/\n$/, '');
}

export class ChartRenderer {
  private readonly defines = new Map<string, Node[]>();
  private readonly files = new Map<string, Node[]>();

  /** `templates` maps a file name (e.g. `templates/service.yaml`) to its source. */
  constructor(templates: Record<string, string>) {
    for (const [name, source] of Object.entries(templates)) this.files.set(name, parse(source, name, this.defines));
  }

  /** Renders every template not starting with `_`; returns file name → output. */
  render(data: Record<string, unknown>): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, nodes] of this.files) {
      if (name.split('/').pop()!.startsWith('_')) continue;
      const scope = { dot: { ...data, Template: { Name: name, BasePath: 'templates' } }, vars: new Map<string, Value>() };
      scope.vars.set('$', scope.dot);
      out.set(name, this.exec(nodes, scope));
    }
    return out;
  }

  private exec(nodes: Node[], scope: Scope): string {
    let s = '';
    for (const node of nodes) {
      switch (node.kind) {
        case 'text':
          s += node.text;
          break;
        case 'out': {
          const v = this.pipe(node.pipe, scope);
          if (!node.pipe.decl) s += print(v);
          break;
        }
        case 'if': {
          const v = this.pipe(node.pipe, scope);
          s += this.exec(truthy(v) ? node.then : node.else, scope);
          break;
        }
        case 'with': {
          const v = this.pipe(node.pipe, scope);
          s += truthy(v) ? this.exec(node.then, { dot: v, vars: scope.vars }) : this.exec(node.else, scope);
          break;
        }
        case 'range': {
          const v = this.pipe(node.pipe, scope);
          const entries: Array<[Value, Value]> = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : v && typeof v === 'object'
              ? Object.keys(v).sort().map((k) => [k, (v as Record<string, Value>)[k]])
              : [];
          if (entries.length === 0) s += this.exec(node.else, scope);
          for (const [k, x] of entries) {
            const vars = new Map(scope.vars);
            if (node.vars.length === 1) vars.set(node.vars[0]!, x);
            if (node.vars.length === 2) {
              vars.set(node.vars[0]!, k);
              vars.set(node.vars[1]!, x);
            }
            s += this.exec(node.then, { dot: x, vars });
          }
          break;
        }
        case 'template':
          s += this.include(node.name, node.pipe ? this.pipe(node.pipe, scope) : null);
          break;
      }
    }
    return s;
  }

  private include(name: string, data: Value): string {
    const nodes = this.defines.get(name);
    if (!nodes) throw new TemplateError(`no template "${name}"`);
    return this.exec(nodes, { dot: data, vars: new Map([['$', data]]) });
  }

  private pipe(pipe: Pipeline, scope: Scope): Value {
    let piped: Value = undefined;
    let first = true;
    for (const cmd of pipe.cmds) {
      piped = this.command(cmd, scope, first ? [] : [piped]);
      first = false;
    }
    if (pipe.decl) scope.vars.set(pipe.decl, piped);
    return piped;
  }

  private command(cmd: Command, scope: Scope, piped: Value[]): Value {
    const [head, ...rest] = cmd as [Operand, ...Operand[]];
    if (head.kind === 'ident') {
      const args = [...rest.map((o) => this.operand(o, scope)), ...piped];
      return this.call(head.name, args);
    }
    if (rest.length > 0 || piped.length > 0) throw new TemplateError('only functions take arguments');
    return this.operand(head, scope);
  }

  private operand(o: Operand, scope: Scope): Value {
    switch (o.kind) {
      case 'literal':
        return o.value;
      case 'pipe':
        return this.pipe(o.pipe, scope);
      case 'ident':
        return this.call(o.name, []);
      case 'field': {
        let v: Value = o.base === 'dot' ? scope.dot : scope.vars.get(o.name);
        if (o.base === 'var' && !scope.vars.has(o.name)) throw new TemplateError(`undefined variable ${o.name}`);
        for (const key of o.path) {
          if (v === null || v === undefined) return undefined;
          if (typeof v !== 'object') throw new TemplateError(`cannot read .${key} of ${JSON.stringify(v)}`);
          v = (v as Record<string, Value>)[key];
        }
        return v;
      }
    }
  }

  private call(name: string, a: Value[]): Value {
    const str = (v: Value) => print(v);
    switch (name) {
      case 'include':
        return this.include(str(a[0]), a[1]);
      case 'toYaml':
        return toYaml(a[0]);
      case 'nindent':
        return '\n' + str(a[1]).split('\n').map((l) => ' '.repeat(Number(a[0])) + l).join('\n');
      case 'indent':
        return str(a[1]).split('\n').map((l) => ' '.repeat(Number(a[0])) + l).join('\n');
      case 'quote':
        return JSON.stringify(str(a[0]));
      case 'default':
        return truthy(a[1]) ? a[1] : a[0];
      case 'required':
        if (a[1] === null || a[1] === undefined || a[1] === '') throw new TemplateError(`required: ${str(a[0])}`);
        return a[1];
      case 'trunc':
        return str(a[1]).slice(0, Number(a[0]));
      case 'trimSuffix':
        return str(a[1]).endsWith(str(a[0])) ? str(a[1]).slice(0, -str(a[0]).length || undefined) : str(a[1]);
      case 'contains':
        return str(a[1]).includes(str(a[0]));
      case 'printf':
        return goPrintf(str(a[0]), a.slice(1));
      case 'b64enc':
        return Buffer.from(str(a[0])).toString('base64');
      case 'sha256sum':
        return createHash('sha256').update(str(a[0])).digest('hex');
      case 'eq':
        return a.slice(1).some((x) => x === a[0]);
      case 'ne':
        return a[0] !== a[1];
      case 'not':
        return !truthy(a[0]);
      case 'and':
        return a.find((x) => !truthy(x)) ?? a[a.length - 1];
      case 'or':
        return a.find((x) => truthy(x)) ?? a[a.length - 1];
      default:
        throw new TemplateError(`function "${name}" is not in the supported subset`);
    }
  }
}
