#!/usr/bin/env node
// Cosmos DB emulator for tests: @vercel/cosmosdb-server on loopback, with one server bug fixed.
//
//   node scripts/cosmos-emulator.js [port]      (port 0 or omitted: pick a free one)
//
// Prints "READY <port>" on stdout once it accepts HTTPS connections (the bundled self-signed certificate;
// azure-cosmos skips TLS verification for 127.0.0.1 by itself). In-memory: every start is empty.
//
// Why the wrapper: reading a missing document makes the stock server answer 500 ("Cannot read properties
// of undefined (reading 'id')") because its read handler dereferences the document before checking that it
// exists. The SDK retries that 500 and then raises, where the real service answers 404. We swap the
// handler's export *before* routes.js captures it, so a missing document gives the same 404 as Cosmos DB.
// Gaps that remain (see docs/stores.md): no TTL expiry, no transactional batch, no /offers.
"use strict";

const path = require("path");

const toolsDir = process.env.MCPGW_NODE_TOOLS || path.join(__dirname, "..", ".cache", "node-tools");
const lib = path.join(toolsDir, "node_modules", "@vercel", "cosmosdb-server", "lib");

const readDocument = require(path.join(lib, "handler", "read-document"));
const { parsePartitionKey } = require(path.join(lib, "utils", "get-partition-from-header"));
const stockRead = readDocument.default;

readDocument.default = (account, req, res, params) => {
  const { dbId, collId, docId } = params;
  const collection = account.database(dbId).collection(collId);
  if (collection.read()) {
    const header = req.headers["x-ms-documentdb-partitionkey"];
    let partitionKey = docId;
    try {
      partitionKey = parsePartitionKey(Array.isArray(header) ? header[0] : header, docId);
    } catch (err) {
      // an unparsable header is the stock handler's business (it answers 400/500 as before)
    }
    if (!collection.document(docId, partitionKey).read()) {
      res.statusCode = 404;
      return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
    }
  }
  return stockRead(account, req, res, params);
};

// Required only now, so routes.js sees the patched handler.
const { createHttpsServer } = require(lib);

const port = parseInt(process.argv[2] || "0", 10);
const server = createHttpsServer().listen(port, "127.0.0.1", () => {
  process.stdout.write(`READY ${server.address().port}\n`);
});

const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref(); // do not wait for idle keep-alive sockets
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
