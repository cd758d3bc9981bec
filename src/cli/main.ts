#!/usr/bin/env node
// kubevirt-net-injector: one binary, one subcommand per job. Each subcommand lives in
// its own module and is loaded on demand, so `mutate` never pays for express or the
// Kubernetes client.
import { argv, exit, stderr } from 'node:process';

type Command = { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> };

const commands: Record<string, Command> = {
  mutate: {
    summary: 'inject the L2 network into VirtualMachines read from a file',
    load: () => import('./mutate.js'),
  },
  webhook: {
    summary: 'serve the injection as a mutating admission webhook',
    load: () => import('./webhook.js'),
  },
  controller: {
    summary: 'publish VM secondary IPs as headless Services',
    load: () => import('./controller.js'),
  },
  explain: {
    summary: 'say what would happen to VirtualMachines, and why (policies included)',
    load: () => import('./explain.js'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(12)}${c.summary}`);
  return `usage: kubevirt-net-injector <command> [flags]\n\ncommands:\n${lines.join('\n')}\n\nRun 'kubevirt-net-injector <command> --help' for a command's flags.\n`;
}

async function main(): Promise<number> {
  const [name, ...rest] = argv.slice(2);
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    stderr.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    stderr.write(`kubevirt-net-injector: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return module.run(rest);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    stderr.write(`kubevirt-net-injector: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(1);
  },
);
