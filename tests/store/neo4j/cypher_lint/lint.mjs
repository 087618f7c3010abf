// Reads a JSON array of {text, params} from stdin and lints each text with
// Neo4j's Cypher language support (syntax and semantic analysis, Cypher 5).
// Prints a JSON array: one list of diagnostics per statement.
import { lintCypherQuery } from '@neo4j-cypher/language-support';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const statements = JSON.parse(input);
const out = statements.map(({ text, params }) => {
  const schema = { defaultLanguage: 'CYPHER 5', parameters: params };
  const { diagnostics } = lintCypherQuery(text, schema, { consoleCommandsEnabled: false });
  return diagnostics.map((d) => ({ severity: d.severity, message: d.message, offsets: d.offsets }));
});
process.stdout.write(JSON.stringify(out));
