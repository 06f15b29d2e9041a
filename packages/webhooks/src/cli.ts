#!/usr/bin/env node
import { runCli } from './dispatcher/runCli'

runCli({ argv: process.argv.slice(2) }).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  },
)
