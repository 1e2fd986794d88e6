// Runs the Durable Streams server conformance suite against CONFORMANCE_TEST_URL.
import { runConformanceTests } from "@durable-streams/server-conformance-tests"

const baseUrl = process.env.CONFORMANCE_TEST_URL
if (!baseUrl) throw new Error("set CONFORMANCE_TEST_URL to the server's base URL")

runConformanceTests({ baseUrl, longPollTimeoutMs: 20_000 })
