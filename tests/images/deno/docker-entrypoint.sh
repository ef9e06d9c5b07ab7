#!/bin/sh
# Entrypoint of the deno stand-in image (see Containerfile).
set -e
case "${1:-}" in
  -*|bench|bundle|cache|check|compile|completions|coverage|doc|eval|fmt|help|info|init|install|\
  jupyter|lint|lsp|publish|repl|run|serve|task|test|types|uninstall|upgrade|vendor|add|remove|\
  outdated|clean|approve-scripts|x)
    set -- deno "$@" ;;
esac
exec "$@"
