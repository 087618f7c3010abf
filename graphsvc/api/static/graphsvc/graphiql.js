// GraphiQL for graphsvc. Every script and style this page loads is served by
// graphsvc itself (graphsvc/api/static/vendor/README.md says where each comes
// from), so it works on a network without internet access. Adapted from
// strawberry-graphql's GraphiQL page (MIT licence).
//
// The query and variables are kept in the address (?q=...&variables=...) so
// that a query can be shared as a link. Headers (an Authorization header for a
// server that wants tokens) are never stored: not in the address, not in the
// browser's storage.
(function () {
  "use strict";

  var EXAMPLE_QUERY =
    "# GraphiQL for graphsvc: write a query on this side, run it with\n" +
    "# Ctrl-Enter or the play button; the Docs button (top left) opens the\n" +
    "# schema's documentation.\n" +
    "#\n" +
    "# A server that asks for tokens wants an Authorization header:\n" +
    "# add it under Headers as {\"Authorization\": \"Bearer gsv_...\"}.\n" +
    "\n" +
    "{\n" +
    "  entities(first: 5) {\n" +
    "    totalCount\n" +
    "    edges { node { kind key name } }\n" +
    "  }\n" +
    "}\n";

  var parameters = new URLSearchParams(window.location.search);

  function remember(name, value) {
    var next = new URLSearchParams(window.location.search);
    if (value) {
      next.set(name, value);
    } else {
      next.delete(name);
    }
    var search = next.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  var fetcher = GraphiQL.createFetcher({
    url: window.location.origin + window.location.pathname,
  });

  function GraphsvcGraphiQL() {
    var query = React.useState(parameters.get("q") || EXAMPLE_QUERY);
    var variables = React.useState(parameters.get("variables") || undefined);
    var explorer = React.useMemo(function () {
      return GraphiQLPluginExplorer.explorerPlugin();
    }, []);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [explorer],
      query: query[0],
      variables: variables[0],
      onEditQuery: function (value) {
        query[1](value);
        remember("q", value);
      },
      onEditVariables: function (value) {
        variables[1](value);
        remember("variables", value);
      },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
    });
  }

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphsvcGraphiQL));
})();
