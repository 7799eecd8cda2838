import type { CostLookup } from '../types.ts';
import { chain, idOf } from './costs.ts';
import { isObj } from './fields.ts';

type Obj = Record<string, unknown>;

/** Owners of a tax id that are no customer: their tax ids change no preview Keybrake prices from. */
const NOT_A_CUSTOMER = new Set(['account', 'application', 'self']);

/**
 * `DELETE /v1/tax_ids/{id}` (price stage): a customer's tax id decides the automatic tax a preview
 * computes (a VAT id makes an invoice reverse charge), so deleting one must wait for a call priced
 * from such a preview, which leases the customer (ADR 0007 §5, seventh round). The request names only
 * the tax id: it is read for its owner, then read again with the owner leased, since a lookup leases
 * objects before a read and never after the last one. The owner of a tax id never changes, so the
 * first read cannot be raced. A tax id of the account itself, a connected account or an application
 * leases nothing; an answer that names no owner is refused (price_unknown), nothing sent.
 */
export function taxIdDelete(id: string): CostLookup {
  const path = `/v1/tax_ids/${id}`;
  return chain([
    {
      path,
      describe: "the tax id's owner, then the tax id again with its customer leased",
      part: () => 0,
      follow: (o) => {
        const owners = customerOwners(o);
        if (owners === undefined) return undefined;
        if (owners.length === 0) return [];
        return [{ path, describe: 'the tax id, with its customer leased', locks: owners, part: () => 0 }];
      },
    },
  ]).lookup!;
}

/**
 * The customer a tax id belongs to, by its id and by its account id (`customer_account`) where the
 * answer gives them; none for another kind of owner; undefined when the answer does not say.
 */
function customerOwners(o: Obj): string[] | undefined {
  const owner = isObj(o['owner']) ? o['owner'] : undefined;
  const ids = [o['customer'], o['customer_account'], owner?.['customer'], owner?.['customer_account']]
    .map((v) => idOf(v))
    .filter((v): v is string => v !== undefined);
  if (ids.length > 0) return [...new Set(ids)];
  const type = owner?.['type'];
  return typeof type === 'string' && NOT_A_CUSTOMER.has(type) ? [] : undefined;
}
