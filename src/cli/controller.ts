// Placeholder until the controller lands: says so and fails, so nothing mistakes it for working.
import { stderr } from 'node:process';

export async function run(_args: string[]): Promise<number> {
  stderr.write('kubevirt-net-injector: the controller command is not implemented yet\n');
  return 1;
}
