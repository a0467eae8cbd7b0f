// vitest.config.mjs -- runs the Durable Streams conformance suite that the npm package ships
// (tests/ds/run.sh). vitest leaves out everything under node_modules by default, the suite's own
// runner included: name that file and exclude nothing, or vitest finds no test at all.
import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["node_modules/@durable-streams/server-conformance-tests/dist/test-runner.js"],
    exclude: [],
    watch: false,
  },
})
