import type { MethodSchema, ParamSchema } from './schema.js';

/**
 * Parameter verification as PVE::JSONSchema does it (check_object / check_prop / check_type /
 * check_format / parse_property_string), with its error texts byte for byte, trailing newlines
 * included. Values arrive as form strings or as JSON values.
 */
export type Errors = Record<string, string>;

const NOT_DEFINED = 'property is not defined in schema and the schema does not allow additional properties';

export function validateParameters(params: Record<string, unknown>, parameters: MethodSchema['parameters']): Errors {
  const errors: Errors = {};
  checkObject('', parameters?.properties ?? {}, params, parameters?.additionalProperties, errors);
  return errors;
}

/** PVE's add_error: a second error on one path is joined with a literal backslash-n. */
function addError(errors: Errors, path: string, msg: string): void {
  const key = path || '_root';
  errors[key] = errors[key] === undefined ? msg : `${errors[key]}\\n${msg}`;
}

function checkObject(
  path: string,
  schema: Readonly<Record<string, ParamSchema>>,
  value: Record<string, unknown>,
  additionalProperties: number | boolean | undefined,
  errors: Errors,
): void {
  const sub = (k: string) => (path ? `${path}.${k}` : k);
  for (const [k, propSchema] of Object.entries(schema)) checkProp(value[k], propSchema, sub(k), errors);
  for (const k of Object.keys(value)) {
    const propSchema = schema[k];
    if (propSchema) {
      const requires = propSchema.requires;
      if (requires !== undefined && value[requires] === undefined) {
        addError(errors, sub(requires), `missing property - '${sub(k)}' requires this property`);
      }
      continue;
    }
    if (additionalProperties !== undefined && !additionalProperties) addError(errors, sub(k), NOT_DEFINED);
  }
}

function checkProp(value: unknown, schema: ParamSchema, path: string, errors: Errors): void {
  if (value === undefined || value === null) {
    if (!schema.optional && !schema.alias) addError(errors, path, 'property is missing and it is not optional');
    return;
  }
  if (!checkType(path, schema.type, value, errors)) return;
  if (typeof value === 'object') {
    if (Array.isArray(value) && schema.items) value.forEach((el, i) => checkProp(el, schema.items!, `${path}[${i}]`, errors));
    return;
  }
  const text = String(value);
  if (schema.format !== undefined) {
    try {
      checkFormat(schema.format, text, path);
    } catch (err) {
      addError(errors, path, `invalid format - ${(err as Error).message}`);
      return;
    }
  }
  if (schema.pattern !== undefined) {
    const re = perlRegExp(schema.pattern);
    if (re && !re.test(text)) {
      addError(errors, path, 'value does not match the regex pattern');
      return;
    }
  }
  if (schema.maxLength !== undefined && text.length > schema.maxLength) {
    addError(errors, path, `value may only be ${schema.maxLength} characters long`);
    return;
  }
  if (schema.minLength !== undefined && text.length < schema.minLength) {
    addError(errors, path, `value must be at least ${schema.minLength} characters long`);
    return;
  }
  if (isNumber(text)) {
    if (schema.maximum !== undefined && Number(text) > Number(schema.maximum)) {
      addError(errors, path, `value must have a maximum value of ${schema.maximum}`);
      return;
    }
    if (schema.minimum !== undefined && Number(text) < Number(schema.minimum)) {
      addError(errors, path, `value must have a minimum value of ${schema.minimum}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.includes(text)) {
    addError(errors, path, `value '${text}' does not have a value in the enumeration '${schema.enum.join(', ')}'`);
  }
}

/** What Perl's ref() says about a decoded JSON value, for `got HASH` style messages. */
function perlRef(value: unknown): string {
  if (typeof value === 'boolean') return 'JSON::PP::Boolean';
  if (Array.isArray(value)) return 'ARRAY';
  if (value !== null && typeof value === 'object') return 'HASH';
  return '';
}

function checkType(path: string, type: string | undefined, value: unknown, errors: Errors): boolean {
  if (!type || type === 'any') return true;
  const ref = perlRef(value);
  if (type === 'array' || type === 'object') {
    if (ref !== (type === 'array' ? 'ARRAY' : 'HASH')) {
      addError(errors, path, `type check ('${type}') failed`);
      return false;
    }
    return true;
  }
  if (ref) {
    if (type === 'boolean' && typeof value === 'boolean') return true;
    addError(errors, path, `type check ('${type}') failed - got ${ref}`);
    return false;
  }
  const text = String(value);
  const ok =
    type === 'boolean' ? text === '1' || text === '0' : type === 'integer' ? /^[+-]?\d+$/.test(text) : type === 'number' ? isNumber(text) : true;
  if (!ok) addError(errors, path, `type check ('${type}') failed - got '${text}'`);
  return ok;
}

export function isNumber(text: string): boolean {
  return /^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$/.test(text);
}

/**
 * Perl patterns in the schema are interpolated into m/^$pattern$/ unanchored-grouped, as PVE
 * does. Perl-only `(?^i:…)` groups become plain groups with the `i` flag; a pattern JavaScript
 * still cannot compile is not checked (undefined).
 */
function perlRegExp(pattern: string): RegExp | undefined {
  const caseless = pattern.includes('(?^i:');
  try {
    return new RegExp(`^${pattern.replace(/\(\?\^i?:/g, '(?:')}$`, caseless ? 'i' : '');
  } catch {
    return undefined;
  }
}

// ---- formats -------------------------------------------------------------------------------

type FormatCheck = (value: string) => void;

const fail = (msg: string): never => {
  throw new Error(`${msg}\n`);
};

const matching =
  (re: RegExp, msg: (v: string) => string): FormatCheck =>
  (v) => {
    if (!re.test(v)) fail(msg(v));
  };

/** The named formats the simulator's endpoints use (PVE::JSONSchema / PVE::HA::Tools). */
const FORMATS: Record<string, FormatCheck> = {
  'pve-vmid': matching(/^[1-9][0-9]{2,8}$/, () => 'value does not look like a valid VM ID'),
  'pve-node': matching(/^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)$/, () => 'value does not look like a valid node name'),
  'pve-configid': matching(/^[a-z][a-z0-9_-]+$/i, (v) => `invalid configuration ID '${v}'`),
  'pve-storage-id': matching(/^[a-z][a-z0-9\-_.]*[a-z0-9]$/i, (v) => `storage ID '${v}' contains illegal characters`),
  'pve-ha-resource-id': matching(/^[a-z]+:\S+$/, () => 'value does not look like a valid ha resource id'),
  'pve-ha-resource-or-vm-id': matching(/^([a-z]+:\S+|\d+)$/, () => 'value does not look like a valid ha resource id'),
  'pve-tag': matching(/^[a-z0-9_][a-z0-9_\-+.]*$/i, () => 'invalid characters in tag'),
  'mac-addr': matching(/^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i, () => 'value does not look like a valid unicast MAC address'),
  'pve-task-status-type': matching(/^(ok|error|warning|unknown)$/i, (v) => `invalid status '${v}'`),
  'pve-startup-order': (v) => {
    if (!parseStartupOrder(v)) fail('unable to parse startup options');
  },
};

/** PVE::Tools::split_list. */
function splitList(text: string): string[] {
  if (text.includes('\0')) return text.split('\0');
  return text.replace(/[,;]/g, ' ').trim().split(/\s+/).filter((s) => s.length > 0);
}

function checkFormat(format: string | Readonly<Record<string, ParamSchema>>, value: string, path: string): void {
  if (typeof format === 'object') {
    parsePropertyString(format, value, path);
    return;
  }
  const m = /^(.*?)(?:-(list|opt))?$/.exec(format)!;
  const check = FORMATS[m[1]!];
  // Formats the simulator's endpoints never use are not checked (real PVE knows them all).
  if (!check) return;
  if (m[2] === 'list') splitList(value).forEach(check);
  else if (m[2] === 'opt') {
    if (value !== '' && value !== '0') check(value);
  } else check(value);
}

function parseBoolean(v: string): string | undefined {
  if (/^(1|on|yes|true)$/i.test(v)) return '1';
  if (/^(0|off|no|false)$/i.test(v)) return '0';
  return undefined;
}

/**
 * PVE's parse_property_string: `key=value,…` with an optional default key. Throws with PVE's
 * message; nested check errors read `format error` plus one `path.key: msg` line each, as a
 * stringified PVE::Exception does.
 */
export function parsePropertyString(
  format: Readonly<Record<string, ParamSchema>>,
  data: string,
  path: string,
): Record<string, string> {
  const res: Record<string, string> = {};
  let defaultKey: string | undefined;
  for (const part of data.split(',')) {
    if (/^\s*$/.test(part)) continue;
    const kv = /^([^=]+)=(.+)$/s.exec(part);
    if (kv) {
      let k = kv[1]!;
      let v = kv[2]!;
      if (res[k] !== undefined) fail(`duplicate key in comma-separated list property: ${k}`);
      let schema = format[k];
      if (schema?.alias) {
        k = schema.alias;
        schema = format[k];
      }
      if (!schema) fail(`invalid key in comma-separated list property: ${k}`);
      if (schema!.type === 'boolean') v = parseBoolean(v) ?? v;
      res[k] = v;
    } else if (!part.includes('=')) {
      if (defaultKey) fail(`duplicate key in comma-separated list property: ${defaultKey}`);
      defaultKey = Object.keys(format).find((k) => format[k]!.default_key);
      if (!defaultKey) fail('value without key, but schema does not define a default key');
      if (res[defaultKey!] !== undefined) fail(`duplicate key in comma-separated list property: ${defaultKey}`);
      res[defaultKey!] = part;
    } else {
      fail('missing key in comma-separated list property');
    }
  }
  const errors: Errors = {};
  checkObject(path, format, res, 0, errors);
  const lines = Object.entries(errors).map(([k, msg]) => `${k}: ${msg}\n`);
  if (lines.length > 0) throw new Error(`format error\n${lines.join('')}`);
  return res;
}

export interface StartupOrder {
  order?: number;
  up?: number;
  down?: number;
}

/** PVE's pve_parse_startup_order: `[[order=]N][,up=N][,down=N]`; undefined when unparsable. */
export function parseStartupOrder(value: string): StartupOrder | undefined {
  if (!value) return undefined;
  const res: StartupOrder = {};
  for (const p of value.split(',')) {
    if (/^\s*$/.test(p)) continue;
    let m: RegExpExecArray | null;
    if ((m = /^(?:order=)?(\d+)$/.exec(p))) res.order = Number(m[1]);
    else if ((m = /^up=(\d+)$/.exec(p))) res.up = Number(m[1]);
    else if ((m = /^down=(\d+)$/.exec(p))) res.down = Number(m[1]);
    else return undefined;
  }
  return res;
}

/** Form and JSON booleans after validation: `1`, 1 and true are true. */
export function asBool(v: unknown): boolean {
  return v === true || v === 1 || v === '1';
}
