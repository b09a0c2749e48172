// Server-sent events read from a fetch() body. EventSource cannot send headers, and the portal's identity
// travels in headers (a bearer token or X-Dev-*), never in the URL, so streams are read this way.

/** Yields {event, data, id, retry} for each event of `response.body`; comments (keep-alives) are skipped. */
export async function* readEvents(response, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event = { event: "message", data: [], id: null, retry: null };
  const onAbort = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", onAbort);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (event.data.length) yield { ...event, data: event.data.join("\n") };
          event = { event: "message", data: [], id: null, retry: null };
          continue;
        }
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "data") event.data.push(text);
        else if (field === "event") event.event = text || "message";
        else if (field === "id") event.id = text;
        else if (field === "retry") event.retry = Number(text);
      }
    }
    if (event.data.length) yield { ...event, data: event.data.join("\n") };
  } finally {
    signal?.removeEventListener("abort", onAbort);
    reader.releaseLock?.();
  }
}
