// Showing what a server answered: content blocks (text, images, audio, resource links, embedded
// resources), structured content, and whether the tool reported an error. Everything is text nodes or
// data: URLs of the declared media type; nothing from the server is parsed as markup.

import { codeBlock, h, pretty } from "../dom.js";

const SAFE_IMAGE = /^image\/(png|jpeg|gif|webp|bmp)$/;
const SAFE_AUDIO = /^audio\/(wav|x-wav|mpeg|mp3|ogg|webm|flac)$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function contentBlock(block, index) {
  switch (block.type) {
    case "text":
      return h("div", { class: "block" }, codeBlock(block.text, `Text content ${index + 1}`, "result-text"));
    case "image":
      if (SAFE_IMAGE.test(block.mimeType || "") && BASE64.test(block.data || "")) {
        return h("figure", { class: "block" }, h("img", { src: `data:${block.mimeType};base64,${block.data}`, alt: `Image ${index + 1} from the server (${block.mimeType})` }),
          h("figcaption", {}, `Image (${block.mimeType})`));
      }
      return h("p", { class: "hint" }, `An image of type ${block.mimeType} (not shown).`);
    case "audio":
      if (SAFE_AUDIO.test(block.mimeType || "") && BASE64.test(block.data || "")) {
        return h("figure", { class: "block" }, h("audio", { controls: true, src: `data:${block.mimeType};base64,${block.data}` }),
          h("figcaption", {}, `Audio (${block.mimeType})`));
      }
      return h("p", { class: "hint" }, `Audio of type ${block.mimeType} (not played).`);
    case "resource_link":
      return h("p", { class: "block" }, "Resource link: ", h("code", {}, block.uri), block.name ? ` (${block.name})` : "");
    case "resource": {
      const resource = block.resource || {};
      return h("div", { class: "block" }, h("p", {}, "Embedded resource ", h("code", {}, resource.uri || "")),
        "text" in resource ? codeBlock(resource.text, `Resource ${resource.uri}`) : h("p", { class: "hint" }, `Binary (${resource.mimeType || "unknown type"}).`));
    }
    default:
      return h("div", { class: "block" }, codeBlock(pretty(block), `Content block ${index + 1}`));
  }
}

export function renderToolResult(result) {
  const parts = [];
  if (result.isError) {
    parts.push(h("p", { class: "error", role: "alert", "data-testid": "tool-error" }, "The tool reported an error (isError: true)."));
  }
  parts.push(...(result.content || []).map(contentBlock));
  if (result.structuredContent !== undefined) {
    parts.push(h("h4", {}, "Structured content"), codeBlock(pretty(result.structuredContent), "Structured content"));
  }
  parts.push(h("details", {}, h("summary", {}, "The whole result as JSON"), codeBlock(pretty(result), "The whole result")));
  return h("div", { class: ["result", result.isError ? "is-error" : ""], "data-testid": "tool-result" }, parts);
}

export function renderResourceContents(result) {
  return h("div", { class: "result" }, (result.contents || []).map((item, i) => ("text" in item
    ? h("div", { class: "block" }, h("p", {}, h("code", {}, item.uri)), codeBlock(item.text, `Resource content ${i + 1}`))
    : h("p", { class: "block" }, h("code", {}, item.uri), ` (binary, ${item.mimeType || "unknown type"})`))));
}

export function renderPromptResult(result) {
  return h("div", { class: "result" },
    result.description ? h("p", {}, result.description) : null,
    (result.messages || []).map((m, i) => h("div", { class: "block" }, h("p", { class: "hint" }, `${m.role}:`), contentBlock(m.content, i))));
}
