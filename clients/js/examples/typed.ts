// A typed kitchen screen: the compiler knows each command's data and each event's data by type.
// `npm run check` (tsc --noEmit) type-checks it against the package's declarations.
import { Hub, HubError, PROTOCOL_VERSION, type Ack, type KitchenTicket, type TypedEvent } from "@fireflow/client";

const tickets = new Map<string, KitchenTicket>();

function onEvent(event: TypedEvent): void {
  if (event.type === "NEW_KITCHEN_ORDER") {
    const ticket: KitchenTicket = event.data.ticket; // typed by the event's type
    tickets.set(ticket.id, ticket);
    console.log(`#${ticket.order_number}:`, ticket.lines.map((line) => `${line.quantity} x ${line.name}`).join(", "));
  } else if (event.type === "ORDER_READY") {
    console.log("ready:", event.data.order_id);
  }
}

export function kitchen(url: string, token: string, station: string): Hub {
  const hub = new Hub(
    token,
    {
      channels: (welcome) => (welcome.stations.length ? welcome.stations : [station]).map((s) => `kitchen:${s}`),
      snapshot: () => tickets.clear(),
      event: onEvent,
      state: (state) => console.log("link:", state, `protocol v${PROTOCOL_VERSION}`),
    },
    url,
  );
  return hub.start();
}

export async function acknowledge(hub: Hub, ticket: KitchenTicket): Promise<string[]> {
  try {
    const ack: Ack = await hub.command("ticket.ack", { order_id: ticket.order_id, ticket_ids: [ticket.id] });
    return ack.result["acked"] as string[];
  } catch (err) {
    if (err instanceof HubError && err.code === "NOT_FOUND") return [];
    throw err;
  }
}
