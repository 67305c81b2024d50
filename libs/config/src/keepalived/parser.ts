/**
 * keepalived.conf block tree. Generic: it knows nothing of keywords, only that
 * a statement is a line of words and that a '{' (on the same line or the next)
 * opens a block belonging to the statement before it. Every node keeps the file
 * and line it came from. Brace errors are reported with a hint from the
 * indentation, which is usually right about where a '}' went missing.
 */
import type { DiagnosticSink } from '../diagnostics.js';
import type { LexItem, WordToken } from './lexer.js';

export interface ConfNode {
  key: WordToken;
  args: WordToken[];
  /** The statement as written, for keywords that re-split it (scripts). */
  raw: string;
  file: string;
  line: number;
  /** Present when the statement has a `{ … }` block. */
  block?: ConfNode[];
  /** Where the block's '}' is, if it was found. */
  blockEnd?: { file: string; line: number };
}

export interface ParseResult {
  nodes: ConfNode[];
  /** Some '{' was never closed: the tree is unreliable past it. */
  unbalanced: boolean;
}

interface Frame {
  owner: ConfNode | undefined;
  children: ConfNode[];
  /** An anonymous '{' (reported) whose contents are dropped. */
  discard: boolean;
  open: { file: string; line: number; column: number };
}

export function parseItems(items: readonly LexItem[], sink: DiagnosticSink): ParseResult {
  const root: ConfNode[] = [];
  const stack: Frame[] = [];
  const current = (): ConfNode[] => (stack.length > 0 ? stack[stack.length - 1]!.children : root);
  let previous: LexItem | undefined;
  let lastNode: ConfNode | undefined;

  for (const item of items) {
    if (item.kind === 'words') {
      const [key, ...args] = item.words as [WordToken, ...WordToken[]];
      const node: ConfNode = { key, args, raw: item.raw, file: item.file, line: item.line };
      current().push(node);
      lastNode = node;
    } else if (item.kind === 'open') {
      const open = { file: item.file, line: item.line, column: item.column };
      if (previous?.kind === 'words' && lastNode && !lastNode.block) {
        lastNode.block = [];
        stack.push({ owner: lastNode, children: lastNode.block, discard: false, open });
      } else {
        sink.error('KQ_ERR_CONFIG_SYNTAX', { file: item.file, line: item.line, column: item.column, key: '{' }, "found a '{' with no keyword before it; expected 'KEYWORD {' (keepalived ignores this brace, its contents are not used)");
        stack.push({ owner: undefined, children: [], discard: true, open });
      }
    } else {
      const frame = stack.pop();
      if (!frame) {
        sink.error('KQ_ERR_CONFIG_SYNTAX', { file: item.file, line: item.line, column: item.column, key: '}' }, "found a '}' that closes nothing; expected a '{' before it (remove this '}' or add the missing '{')");
      } else if (frame.owner) {
        frame.owner.blockEnd = { file: item.file, line: item.line };
      }
    }
    previous = item;
  }

  const unbalanced = stack.length > 0;
  for (const frame of stack) {
    if (!frame.owner) {
      sink.error('KQ_ERR_CONFIG_SYNTAX', { ...frame.open, key: '{' }, "found a '{' that is never closed; expected a matching '}'");
      continue;
    }
    const owner = frame.owner;
    const hint = missingBraceHint(owner);
    if (hint) {
      const at = hint.block;
      const tail = at === owner ? '' : `; as written, '${label(owner)} {' (line ${owner.line}) is never closed`;
      sink.error(
        'KQ_ERR_CONFIG_SYNTAX',
        { file: at.file, line: at.line, column: at.key.column, key: label(at) },
        `found no '}' closing '${label(at)} {' before line ${hint.child.line}, where '${hint.child.key.text}' starts at the indentation of '${at.key.text}'; expected a '}' before line ${hint.child.line}${tail}`,
      );
    } else {
      sink.error(
        'KQ_ERR_CONFIG_SYNTAX',
        { file: owner.file, line: owner.line, column: owner.key.column, key: label(owner) },
        `the block '${label(owner)} {' is never closed; expected a '}' before the end of the file`,
      );
    }
  }
  return { nodes: root, unbalanced };
}

export function label(node: ConfNode): string {
  return [node.key.text, ...node.args.map((a) => a.text)].join(' ');
}

/**
 * Find the first statement inside `owner`'s block (or a block nested in it) that
 * is indented no deeper than the keyword owning its block: the '}' belongs before it.
 */
function missingBraceHint(owner: ConfNode): { block: ConfNode; child: ConfNode } | undefined {
  const search = (node: ConfNode): { block: ConfNode; child: ConfNode } | undefined => {
    for (const child of node.block ?? []) {
      const inner = search(child);
      if (inner) return inner;
      if (child.key.column <= node.key.column && child.file === node.file) return { block: node, child };
    }
    return undefined;
  };
  return search(owner);
}
