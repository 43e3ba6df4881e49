// A small, dependency-free syntax highlighter for the body viewer: HTML/XML,
// JavaScript, CSS and JSON. It tokenises with sticky regular expressions and
// returns plain tokens; the view renders them as spans (never as HTML, so a
// body can't inject markup).

export type Lang = "html" | "xml" | "js" | "css" | "json" | "text";

/** Token classes: k keyword, s string, n number, c comment, t tag, a attribute, p property, x punctuation. */
export interface Token {
  c: string;
  s: string;
}

type Rule = [RegExp, string];

const JS_KEYWORDS =
  "await|break|case|catch|class|const|continue|debugger|default|delete|do|else|export|extends|false|finally|for|function|if|import|in|instanceof|let|new|null|return|super|switch|this|throw|true|try|typeof|undefined|var|void|while|with|yield|async|of";

const RULES: Record<Exclude<Lang, "text" | "html" | "xml">, Rule[]> = {
  js: [
    [/\/\/[^\n]*/y, "c"],
    [/\/\*[\s\S]*?(?:\*\/|$)/y, "c"],
    [/"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|`(?:[^`\\]|\\[\s\S])*`?/y, "s"],
    [new RegExp(`\\b(?:${JS_KEYWORDS})\\b`, "y"), "k"],
    [/\b(?:0x[\da-fA-F]+|\d+(?:\.\d+)?(?:e[+-]?\d+)?)\b/y, "n"],
    [/[A-Za-z_$][\w$]*/y, ""],
    [/[{}()[\];,.<>=!+\-*/%&|^~?:]+/y, "x"],
  ],
  css: [
    [/\/\*[\s\S]*?(?:\*\/|$)/y, "c"],
    [/"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?/y, "s"],
    [/@[\w-]+/y, "k"],
    [/#[\da-fA-F]{3,8}\b/y, "n"],
    [/-?\d+(?:\.\d+)?(?:%|[a-z]+)?/y, "n"],
    [/[\w-]+(?=\s*:[^{;]*[;}])/y, "p"],
    [/[\w-]+/y, ""],
    [/[{}();:,>+~*[\]=.]+/y, "x"],
  ],
  json: [
    [/"(?:[^"\\\n]|\\.)*"(?=\s*:)/y, "p"],
    [/"(?:[^"\\\n]|\\.)*"?/y, "s"],
    [/\b(?:true|false|null)\b/y, "k"],
    [/-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y, "n"],
    [/[{}[\],:]/y, "x"],
  ],
};

function lex(src: string, rules: Rule[]): Token[] {
  const out: Token[] = [];
  let i = 0;
  let plain = "";
  const flush = () => {
    if (plain) out.push({ c: "", s: plain });
    plain = "";
  };
  outer: while (i < src.length) {
    for (const [re, c] of rules) {
      re.lastIndex = i;
      const m = re.exec(src);
      if (m && m[0].length > 0) {
        if (c === "") {
          plain += m[0];
        } else {
          flush();
          out.push({ c, s: m[0] });
        }
        i += m[0].length;
        continue outer;
      }
    }
    plain += src[i++];
  }
  flush();
  return out;
}

const MARKUP_TAG = /<\/?[A-Za-z][\w:.-]*|\/?>/y;
const MARKUP_ATTR = /[A-Za-z_:@][\w:.-]*/y;
const MARKUP_STR = /"[^"]*"?|'[^']*'?/y;

function lexMarkup(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const push = (c: string, s: string) => {
    const last = out[out.length - 1];
    if (last && last.c === c) last.s += s;
    else out.push({ c, s });
  };
  while (i < src.length) {
    if (src.startsWith("<!--", i)) {
      const end = src.indexOf("-->", i + 4);
      const j = end < 0 ? src.length : end + 3;
      push("c", src.slice(i, j));
      i = j;
      continue;
    }
    if (src[i] === "<" && /[A-Za-z/!?]/.test(src[i + 1] ?? "")) {
      // A tag: name, then attributes until >.
      if (src[i + 1] === "!" || src[i + 1] === "?") {
        const end = src.indexOf(">", i);
        const j = end < 0 ? src.length : end + 1;
        push("k", src.slice(i, j));
        i = j;
        continue;
      }
      MARKUP_TAG.lastIndex = i;
      const m = MARKUP_TAG.exec(src)!;
      push("t", m[0]);
      i += m[0].length;
      const name = m[0].replace(/^<\/?/, "").toLowerCase();
      while (i < src.length && src[i] !== ">" && !src.startsWith("/>", i)) {
        MARKUP_STR.lastIndex = i;
        let a = MARKUP_STR.exec(src);
        if (a) {
          push("s", a[0]);
          i += a[0].length;
          continue;
        }
        MARKUP_ATTR.lastIndex = i;
        a = MARKUP_ATTR.exec(src);
        if (a) {
          push("a", a[0]);
          i += a[0].length;
          continue;
        }
        push("", src[i++]);
      }
      if (src.startsWith("/>", i)) {
        push("t", "/>");
        i += 2;
      } else if (src[i] === ">") {
        push("t", ">");
        i++;
        // Script and style contents are highlighted as JS and CSS.
        if (!m[0].startsWith("</") && (name === "script" || name === "style")) {
          const close = src.toLowerCase().indexOf("</" + name, i);
          const j = close < 0 ? src.length : close;
          out.push(...lex(src.slice(i, j), RULES[name === "script" ? "js" : "css"]));
          i = j;
        }
      }
      continue;
    }
    const next = src.indexOf("<", i + 1);
    const j = next < 0 ? src.length : next;
    push("", src.slice(i, j));
    i = j;
  }
  return out;
}

/** Highlights src; text past maxChars is left plain, so a huge body stays fast. */
export function highlight(src: string, lang: Lang, maxChars = 200_000): Token[] {
  if (lang === "text") return [{ c: "", s: src }];
  const head = src.length > maxChars ? src.slice(0, maxChars) : src;
  const toks = lang === "html" || lang === "xml" ? lexMarkup(head) : lex(head, RULES[lang]);
  if (head.length < src.length) toks.push({ c: "", s: src.slice(maxChars) });
  return toks;
}

/** Picks a language from a Content-Type. */
export function langFor(contentType: string | undefined): Lang {
  const ct = (contentType ?? "").toLowerCase();
  if (ct.includes("json")) return "json";
  if (ct.includes("html")) return "html";
  if (ct.includes("xml") || ct.includes("svg")) return "xml";
  if (ct.includes("javascript") || ct.includes("ecmascript")) return "js";
  if (ct.includes("css")) return "css";
  return "text";
}
