// @ts-check
/**
 * Stable user colours: the same name gets the same colour in every browser and every session, so a
 * collaborator's cursor, selection and participant badge keep one colour without any coordination.
 *
 * @module colors
 */

/**
 * 32-bit FNV-1a hash of a string (UTF-16 code units).
 * @param {string} s
 * @return {number} an unsigned 32-bit integer
 */
export const hashString = (s) => {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/**
 * @param {number} h hue in degrees
 * @param {number} s saturation 0..1
 * @param {number} l lightness 0..1
 * @return {string} `#rrggbb`
 */
const hslToHex = (h, s, l) => {
  const a = s * Math.min(l, 1 - l)
  /** @param {number} n */
  const f = (n) => {
    const k = (n + h / 30) % 12
    const c = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(255 * c).toString(16).padStart(2, '0')
  }
  return `#${f(0)}${f(8)}${f(4)}`
}

/**
 * The colours y-codemirror.next reads from an awareness `user` field: `color` for the caret and
 * name label (dark enough for white text), `colorLight` for the selection background.
 * @param {string} name
 * @return {{color: string, colorLight: string}}
 */
export const colorsForName = (name) => {
  const hue = hashString(name || '') % 360
  return { color: hslToHex(hue, 0.65, 0.4), colorLight: hslToHex(hue, 0.8, 0.87) }
}

/**
 * A complete awareness `user` field, filling in colours derived from the name when not given.
 * @param {{name?: string, color?: string, colorLight?: string}} [user]
 * @return {{name: string, color: string, colorLight: string}}
 */
export const userInfo = (user = {}) => {
  const name = user.name || 'Anonymous'
  const derived = colorsForName(name)
  return { name, color: user.color || derived.color, colorLight: user.colorLight || derived.colorLight }
}
