/**
 * The terminal the demo writes to: whether the footer can be redrawn in place, whether to colour,
 * the colours, and the clock every line starts with.
 */
export const out = process.stdout
/** A terminal: the footer is redrawn in place. Otherwise (a pipe, a file, TERM=dumb) plain lines only. */
export const live = out.isTTY === true && process.env.TERM !== 'dumb'
/** hasColors() honours NO_COLOR, NODE_DISABLE_COLORS and FORCE_COLOR. */
export const colour = out.isTTY === true && out.hasColors()

export const sgr = (code: string) => (s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s)
export const dim = sgr('2')
export const bold = sgr('1')
export const cyan = sgr('36')
export const green = sgr('32')
export const yellow = sgr('33')
export const red = sgr('31')

export const clock = (t: number | Date = new Date()) => new Date(t).toTimeString().slice(0, 8)
