/**
 * Reading the source text of JSON values, for echoing a value exactly as a client wrote it:
 * `JSON.parse` turns 9007199254740993 into ...992 and 1e400 into Infinity, and `JSON.stringify`
 * recurses, so it throws on a value nested tens of thousands deep that parsed fine.
 */

const quote = 0x22
const backslash = 0x5c

/**
 * The source text of the value of a member of a JSON object, as `JSON.parse` reads it (when a
 * name appears twice, the last one). Iterative: values nested thousands deep cost no stack.
 * @param text the JSON text of an object, already known to parse
 * @param name the member's name, as parsed (escapes in the text are decoded before comparing)
 * @returns the value's text, or undefined when the object has no such member
 */
export function memberSource (text: string, name: string): string | undefined {
  let i = skipSpace(text, 0)
  if (text.charCodeAt(i) !== 0x7b) return undefined // {
  i = skipSpace(text, i + 1)
  let found: string | undefined
  while (i < text.length && text.charCodeAt(i) === quote) {
    const keyEnd = stringEnd(text, i)
    const key = text.slice(i, keyEnd)
    i = skipSpace(text, keyEnd)
    i = skipSpace(text, i + 1) // the colon
    const valueStart = i
    i = valueEnd(text, i)
    if (keyName(key) === name) found = text.slice(valueStart, i)
    i = skipSpace(text, i)
    if (text.charCodeAt(i) === 0x2c) i = skipSpace(text, i + 1) // ,
  }
  return found
}

function keyName (source: string): string {
  return source.includes('\\') ? JSON.parse(source) as string : source.slice(1, -1)
}

function skipSpace (text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i)
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i
    i++
  }
}

// `i` is at the opening quote; returns the index after the closing one.
function stringEnd (text: string, i: number): number {
  for (i++; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === backslash) i++
    else if (c === quote) return i + 1
  }
  return i
}

// `i` is at the first character of a value; returns the index after its last one.
function valueEnd (text: string, i: number): number {
  const first = text.charCodeAt(i)
  if (first === quote) return stringEnd(text, i)
  if (first !== 0x7b && first !== 0x5b) {
    // A number or a literal: it runs until a delimiter.
    while (i < text.length && !/[\s,\]}]/.test(text.charAt(i))) i++
    return i
  }
  let depth = 0
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === quote) {
      i = stringEnd(text, i)
      continue
    }
    if (c === 0x7b || c === 0x5b) depth++
    else if (c === 0x7d || c === 0x5d) depth--
    i++
    if (depth === 0) return i
  }
  return i
}
