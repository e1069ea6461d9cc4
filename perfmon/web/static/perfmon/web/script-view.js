/* The monitor page's script, highlighted for its tool by the vendored highlight.js
   (perfmon/vendor/highlightjs/: its core and six grammars as ES modules; nothing from a CDN).

   The server renders the script as escaped text inside <code data-language="…">; highlight.js
   reads that text and writes it back as spans, escaping it again, so markup in a script stays
   text. The server leaves data-language empty for a script too long to highlight quickly. */
import hljs from "../vendor/highlightjs/core.min.js";
import bash from "../vendor/highlightjs/languages/bash.min.js";
import javascript from "../vendor/highlightjs/languages/javascript.min.js";
import python from "../vendor/highlightjs/languages/python.min.js";
import scala from "../vendor/highlightjs/languages/scala.min.js";
import xml from "../vendor/highlightjs/languages/xml.min.js";
import yaml from "../vendor/highlightjs/languages/yaml.min.js";

const grammars = { bash, javascript, python, scala, xml, yaml };
for (const [name, grammar] of Object.entries(grammars)) hljs.registerLanguage(name, grammar);

for (const code of document.querySelectorAll("code[data-language]")) {
  const language = code.getAttribute("data-language");
  if (!grammars[language]) continue;
  code.classList.add("language-" + language);
  hljs.highlightElement(code);
}
