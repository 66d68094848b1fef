// An independent OCPP 1.6J / 2.0.1 CSMS for ocppstation's tests: the npm package ocpp-rpc
// in strict mode, so every frame the station sends is checked against ocpp-rpc's own copy
// of the schemas (ajv, with formats such as date-time), not the ones our Python code uses.
//
// Usage: node server.js '{"host":"127.0.0.1","port":0,"bootStatus":"Accepted",
//                          "heartbeatInterval":300,"password":null,"knownTags":{},
//                          "protocols":["ocpp1.6"]}'
// (every key optional). "protocols" is the server's preference order: a client gets the
// first one it also offers. Driven by tests/peers/rpc_peer.py over stdio:
//   stdout: one JSON object per line, each with an "event" key (see emit() calls below).
//   stdin:  one JSON command per line: call, raw, drop, set_boot, set_reply, quit.
'use strict';

const readline = require('readline');
const { RPCServer, createRPCError, NOREPLY } = require('ocpp-rpc');

const config = Object.assign(
    {
        host: '127.0.0.1',
        port: 0,
        bootStatus: 'Accepted',
        heartbeatInterval: 300,
        password: null,
        knownTags: {},
        protocols: ['ocpp1.6'],
    },
    process.argv[2] ? JSON.parse(process.argv[2]) : {},
);

let bootStatus = config.bootStatus;
let heartbeatInterval = config.heartbeatInterval;
let nextTransactionId = 1;
const scriptedReplies = new Map();
const clients = new Map(); // identity -> newest RPCServerClient

function emit(event) {
    process.stdout.write(JSON.stringify(event) + '\n');
}

function now() {
    return new Date().toISOString();
}

function tagStatus(idTag) {
    return config.knownTags[idTag] ?? 'Accepted';
}

// Mirrors ocppstation.tools.peer.classify so both peers log the same shapes.
function classify(text) {
    let msg;
    try {
        msg = JSON.parse(text);
    } catch (err) {
        return { kind: 'malformed', action: null, uniqueId: null, payload: null };
    }
    if (!Array.isArray(msg) || msg.length < 3 || typeof msg[1] !== 'string') {
        return { kind: 'malformed', action: null, uniqueId: null, payload: msg };
    }
    const [type, uniqueId] = msg;
    if (type === 2 && msg.length === 4 && typeof msg[2] === 'string') {
        return { kind: 'call', action: msg[2], uniqueId, payload: msg[3] };
    }
    if (type === 3 && msg.length === 3) {
        return { kind: 'result', action: null, uniqueId, payload: msg[2] };
    }
    if (type === 4 && msg.length === 5) {
        return {
            kind: 'error', action: null, uniqueId, payload: msg[4],
            errorCode: String(msg[2]), errorDescription: String(msg[3]),
        };
    }
    return { kind: 'malformed', action: null, uniqueId, payload: msg };
}

// Default answers to every station-initiated OCPP 1.6 (and security whitepaper) action.
const handlers16 = {
    Authorize: ({ params }) => ({ idTagInfo: { status: tagStatus(params.idTag) } }),
    BootNotification: () => ({ currentTime: now(), interval: heartbeatInterval, status: bootStatus }),
    DataTransfer: () => ({ status: 'Accepted' }),
    DiagnosticsStatusNotification: () => ({}),
    FirmwareStatusNotification: () => ({}),
    Heartbeat: () => ({ currentTime: now() }),
    MeterValues: () => ({}),
    StartTransaction: ({ params }) => ({
        transactionId: nextTransactionId++,
        idTagInfo: { status: tagStatus(params.idTag) },
    }),
    StatusNotification: () => ({}),
    StopTransaction: ({ params }) => (
        params.idTag === undefined ? {} : { idTagInfo: { status: tagStatus(params.idTag) } }
    ),
    SecurityEventNotification: () => ({}),
    SignCertificate: () => ({ status: 'Accepted' }),
    LogStatusNotification: () => ({}),
    SignedFirmwareStatusNotification: () => ({}),
};

// The same for OCPP 2.0.1. The certificate requests fail because there is no backend to
// ask; Failed is still a valid answer.
const tokenInfo = (idToken) => ({ idTokenInfo: { status: tagStatus(idToken.idToken) } });
const handlers201 = {
    Authorize: ({ params }) => tokenInfo(params.idToken),
    BootNotification: () => ({ currentTime: now(), interval: heartbeatInterval, status: bootStatus }),
    ClearedChargingLimit: () => ({}),
    DataTransfer: () => ({ status: 'Accepted' }),
    FirmwareStatusNotification: () => ({}),
    Get15118EVCertificate: () => ({ status: 'Failed', exiResponse: '' }),
    GetCertificateStatus: () => ({ status: 'Failed' }),
    Heartbeat: () => ({ currentTime: now() }),
    LogStatusNotification: () => ({}),
    MeterValues: () => ({}),
    NotifyChargingLimit: () => ({}),
    NotifyCustomerInformation: () => ({}),
    NotifyDisplayMessages: () => ({}),
    NotifyEVChargingNeeds: () => ({ status: 'Accepted' }),
    NotifyEVChargingSchedule: () => ({ status: 'Accepted' }),
    NotifyEvent: () => ({}),
    NotifyMonitoringReport: () => ({}),
    NotifyReport: () => ({}),
    PublishFirmwareStatusNotification: () => ({}),
    ReportChargingProfiles: () => ({}),
    ReservationStatusUpdate: () => ({}),
    SecurityEventNotification: () => ({}),
    SignCertificate: () => ({ status: 'Accepted' }),
    StatusNotification: () => ({}),
    // idTokenInfo only answers an idToken: without one the station asked nothing.
    TransactionEvent: ({ params }) => (params.idToken === undefined ? {} : tokenInfo(params.idToken)),
};

const handlersByProtocol = { 'ocpp1.6': handlers16, 'ocpp2.0.1': handlers201 };

function answer(protocol, call) {
    const scripted = scriptedReplies.get(call.method);
    if (scripted !== undefined) {
        if (scripted.noreply) return NOREPLY;
        if (scripted.error) {
            throw createRPCError(scripted.error.code, scripted.error.description, scripted.error.details);
        }
        return scripted.result;
    }
    const handler = (handlersByProtocol[protocol] ?? {})[call.method];
    if (!handler) {
        throw createRPCError('NotImplemented', `no handler for ${call.method}`);
    }
    return handler(call);
}

const server = new RPCServer({
    protocols: config.protocols,
    strictMode: true,
    // Keep-alive is the station's job in these tests (its WebSocketPingInterval); server
    // pings would only add timing noise.
    pingIntervalMs: 0,
});

const refused = new WeakSet(); // upgrade requests auth() already reported as rejected

server.auth((accept, reject, handshake) => {
    const cpId = handshake.identity;
    const refuse = (status, reason) => {
        refused.add(handshake.request);
        emit({ event: 'rejected', cp_id: cpId, status, reason });
        reject(status, reason);
    };
    if (!cpId) return refuse(404, 'no charge point id in path');
    if (config.password !== null && config.password !== undefined) {
        const ok = handshake.password !== undefined
            && handshake.password.equals(Buffer.from(config.password, 'utf8'));
        if (!ok) return refuse(401, 'bad credentials');
    }
    // ocpp-rpc would otherwise accept a client that offers no common subprotocol and
    // then skip strict validation for it, which defeats the point of this peer.
    if (!config.protocols.some((p) => handshake.protocols.has(p))) {
        const offered = JSON.stringify([...handshake.protocols]);
        return refuse(400, `no common subprotocol: offered ${offered}, want ${JSON.stringify(config.protocols)}`);
    }
    accept({ path: handshake.request.url, authorization: handshake.headers.authorization });
});

server.on('upgradeAborted', ({ error, identity, request }) => {
    if (refused.has(request)) return;
    emit({ event: 'rejected', cp_id: identity ?? '', status: error?.code ?? 500, reason: String(error?.message ?? error) });
});

server.on('client', (client) => {
    const cpId = client.identity;
    clients.set(cpId, client);
    const openCalls = new Map(); // `${direction}:${uniqueId}` -> action

    const auth = client.session.authorization;
    emit({
        event: 'connect',
        cp_id: cpId,
        path: client.session.path,
        subprotocol: client.protocol ?? null,
        authorization: auth ? auth.split(' ')[0] + ' ***' : null,
    });

    client.on('message', ({ message, outbound }) => {
        const text = message.toString();
        const direction = outbound ? 'out' : 'in';
        const c = classify(text);
        let action = c.action;
        if (c.kind === 'call') {
            openCalls.set(`${direction}:${c.uniqueId}`, action);
        } else if (c.kind === 'result' || c.kind === 'error') {
            const key = `${outbound ? 'in' : 'out'}:${c.uniqueId}`;
            action = openCalls.get(key) ?? null;
            openCalls.delete(key);
        }
        emit({
            event: 'message',
            cp_id: cpId,
            direction,
            kind: c.kind,
            action,
            unique_id: c.uniqueId,
            payload: c.payload,
            text,
            subprotocol: client.protocol ?? null,
            error_code: c.errorCode ?? null,
            error_description: c.errorDescription ?? null,
        });
    });

    client.on('strictValidationFailure', (ev) => {
        emit({
            event: 'validation',
            cp_id: cpId,
            direction: ev.outbound ? 'out' : 'in',
            is_call: ev.isCall,
            action: ev.method,
            unique_id: ev.messageId,
            error: ev.error?.message ?? String(ev.error),
            payload: ev.isCall ? ev.params : ev.result,
        });
    });

    client.on('badMessage', ({ error }) => {
        emit({ event: 'bad_message', cp_id: cpId, error: error?.message ?? String(error) });
    });

    client.on('close', ({ code, reason }) => {
        if (clients.get(cpId) === client) clients.delete(cpId);
        emit({ event: 'disconnect', cp_id: cpId, code: code ?? null, reason: reason ?? '' });
    });

    client.handle((call) => answer(client.protocol, call));
});

function errorInfo(err) {
    return { message: err?.message ?? String(err), details: err?.details ?? null };
}

async function doCall(cmd) {
    const client = clients.get(cmd.cp_id);
    if (!client) {
        return { ok: false, error: { type: 'not_connected', message: `${cmd.cp_id} is not connected` } };
    }
    const payload = cmd.payload ?? {};
    // ocpp-rpc hides the message id of a call; the params object is passed through by
    // reference, which ties its events (and a validation failure) to this call.
    let messageId = null;
    let failure = null;
    const onCall = ({ outbound, payload: frame }) => {
        if (outbound && frame[3] === payload) messageId = frame[1];
    };
    const onFailure = (ev) => {
        if (ev.params === payload) failure = ev;
    };
    client.on('call', onCall);
    client.on('strictValidationFailure', onFailure);
    try {
        const result = await client.call(cmd.action, payload, { callTimeoutMs: cmd.timeout_ms ?? 10000 });
        return { ok: true, payload: result };
    } catch (err) {
        if (failure && failure.isCall) {
            return { ok: false, error: { type: 'invalid_request', protocol: client.protocol, ...errorInfo(err) } };
        }
        if (failure && !failure.isCall) {
            return { ok: false, error: { type: 'invalid_response', payload: failure.result, ...errorInfo(err) } };
        }
        if (err?.name === 'TimeoutError' || err?.constructor?.name === 'TimeoutError') {
            return { ok: false, error: { type: 'timeout', ...errorInfo(err) } };
        }
        if (err?.rpcErrorCode !== undefined) {
            return {
                ok: false,
                error: {
                    type: 'callerror',
                    code: err.rpcErrorCode,
                    message: err.message,
                    details: err.details ?? {},
                    message_id: messageId,
                },
            };
        }
        return { ok: false, error: { type: 'disconnected', ...errorInfo(err) } };
    } finally {
        client.off('call', onCall);
        client.off('strictValidationFailure', onFailure);
    }
}

async function doDrop(cmd) {
    const client = clients.get(cmd.cp_id);
    if (!client) {
        return { ok: false, error: { type: 'not_connected', message: `${cmd.cp_id} is not connected` } };
    }
    // force: terminate the socket with no closing handshake, like a network loss. The
    // reply follows the 'close' event, so the caller sees the disconnect first.
    await client.close({ force: true });
    return { ok: true, payload: null };
}

async function handle(cmd) {
    switch (cmd.cmd) {
        case 'call':
            return doCall(cmd);
        case 'drop':
            return doDrop(cmd);
        case 'raw': {
            const client = clients.get(cmd.cp_id);
            if (!client) {
                return { ok: false, error: { type: 'not_connected', message: `${cmd.cp_id} is not connected` } };
            }
            client.sendRaw(cmd.text);
            return { ok: true, payload: null };
        }
        case 'set_boot':
            bootStatus = cmd.status;
            if (cmd.interval !== undefined && cmd.interval !== null) heartbeatInterval = cmd.interval;
            return { ok: true, payload: null };
        case 'set_reply':
            if (cmd.reply === null || cmd.reply === undefined) scriptedReplies.delete(cmd.action);
            else scriptedReplies.set(cmd.action, cmd.reply);
            return { ok: true, payload: null };
        case 'quit':
            await server.close({ code: 1001 });
            return { ok: true, payload: null };
        default:
            return { ok: false, error: { type: 'bad_command', message: `unknown cmd ${JSON.stringify(cmd.cmd)}` } };
    }
}

async function main() {
    const httpServer = await server.listen(config.port, config.host);
    emit({ event: 'listening', port: httpServer.address().port });

    const rl = readline.createInterface({ input: process.stdin });
    rl.on('line', async (line) => {
        if (!line.trim()) return;
        let cmd;
        try {
            cmd = JSON.parse(line);
        } catch (err) {
            emit({ event: 'reply', id: null, ok: false, error: { type: 'bad_command', message: String(err) } });
            return;
        }
        let reply;
        try {
            reply = await handle(cmd);
        } catch (err) {
            reply = { ok: false, error: { type: 'failed', ...errorInfo(err) } };
        }
        emit({ event: 'reply', id: cmd.id ?? null, ...reply });
        if (cmd.cmd === 'quit') process.exit(0);
    });
    // The parent going away closes stdin: don't linger as an orphan holding the port.
    rl.on('close', async () => {
        await server.close({ code: 1001 });
        process.exit(0);
    });
}

main().catch((err) => {
    emit({ event: 'fatal', error: err?.stack ?? String(err) });
    process.exit(1);
});
