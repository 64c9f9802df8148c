'use strict';
// Request frames as text (PROTOCOL.md 2): options in snake_case, the id
// put first, and what JSON.stringify writes that jqd would refuse whole
// (lone surrogates, integers outside 64 bits, U+0000 in a key), found in
// the text JSON.stringify made (a replacer would cost every call).

/** camelCase -> snake_case; snake_case stays. */
function wireKey(key) {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Options that stay in the client (never sent). */
const LOCAL_OPTS = new Set(['signal', 'clientTimeoutMs', 'onEvent']);

/** Copy fields to a frame, keys in snake_case, undefined/null left out. */
function addFields(frame, fields) {
  if (fields) {
    for (const key of Object.keys(fields)) {
      const v = fields[key];
      if (v !== undefined && v !== null && !LOCAL_OPTS.has(key)) frame[wireKey(key)] = v;
    }
  }
  return frame;
}

/**
 * A lone surrogate in text made by JSON.stringify, which writes each as a
 * \\uDXXX escape (and nothing else so: a pair stays raw, a backslash of
 * the data is doubled).  jqd answers such a frame with an "id": null
 * bad_request that a multiplexed connection cannot match to its call.
 */
const LONE_SURROGATE = /(?:^|[^\\])(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/;
function hasLoneSurrogate(text) {
  return text.includes('\\ud') && LONE_SURROGATE.test(text);
}

/** Whether text has 19 digits in a row: a run of 19 covers exactly one
 * index of the stride 19 (faster than /\d{19}/, which backtracks on
 * numbers). */
function hasLongDigits(text) {
  const n = text.length;
  const digit = (i) => (text.charCodeAt(i) - 48) >>> 0 < 10;
  for (let i = 18; i < n; i += 19) {
    if (!digit(i)) continue;
    let a = i;
    while (a > i - 18 && digit(a - 1)) a -= 1;
    let b = i + 1;
    while (b - a < 19 && b < n && digit(b)) b += 1;
    if (b - a >= 19) return true;
  }
  return false;
}
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);
/**
 * What JSON.stringify writes and jqd still refuses whole (PROTOCOL.md 2),
 * answering "id": null: an integer literal outside 64 bits (a double from
 * 2^63 up to 1e21 is printed as one) and U+0000 in an object key.  The
 * text is walked only when it may hold one.  Returns why, or null.
 */
function unreadable(text) {
  if (!text.includes('\\u0000') && !hasLongDigits(text)) return null;
  const n = text.length;
  for (let i = 0; i < n;) {
    const c = text.charCodeAt(i);
    if (c === 34) {  // a string: skip it, noting a \u0000 in it
      let j = i + 1;
      let nul = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 92) {
          if (text.startsWith('u0000', j + 1)) nul = true;
          j += 2;
        } else if (d === 34) break;
        else j += 1;
      }
      // JSON.stringify writes no white space: a key is followed by ':'
      if (nul && text.charCodeAt(j + 1) === 58) return 'an object key with U+0000';
      i = j + 1;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < n && /[0-9.eE+-]/.test(text[j])) j += 1;
      const lit = text.slice(i, j);
      if (j - i >= 19 && /^-?\d+$/.test(lit)) {
        const v = BigInt(lit);
        if (v > INT64_MAX || v < INT64_MIN) return `the integer ${lit}, outside 64 bits`;
      }
      i = j;
    } else i += 1;
  }
  return null;
}

/**
 * Why jqd would refuse this frame text whole, answering "id": null (which
 * a multiplexed connection cannot match to its call), or null.
 */
function unsendable(text) {
  if (hasLoneSurrogate(text)) return 'a string with a lone surrogate cannot be sent (it is not UTF-8)';
  const bad = unreadable(text);
  return bad ? `${bad} cannot be sent (jqd refuses the frame)` : null;
}

/** A frame's JSON text (an object, never empty) with the id put first. */
function withId(id, text) {
  return text.length > 2 ? `{"id":${id},${text.slice(1)}` : `{"id":${id}}`;
}

module.exports = { addFields, unsendable, withId };
