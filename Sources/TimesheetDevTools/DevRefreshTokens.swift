import Foundation
import Hummingbird
import Synchronization
import TimesheetAPI

/// The dev identity provider's refresh tokens, rotated as Auth0 rotates them for single-page apps (and as the OAuth 2.0
/// Security BCP, RFC 9700 §4.14.2, asks of public clients): each token works once and is exchanged for a new one of
/// the same family; presenting a token that was already used means it leaked, and revokes its whole family.
///
/// In memory: a restart of dev mode forgets every refresh token, and the browser client logs in again.
final class DevRefreshTokens: Sendable {
    /// What a refresh token grants: the login it continues.
    struct Grant: Sendable {
        var family: String
        var account: DevAccount
        var scopes: [String]
        var clientID: String
        /// The thumbprint of the DPoP key the login's tokens are bound to (RFC 9449 §5: a public client's refresh
        /// token is bound to its key too); `nil` for a Bearer login.
        var keyThumbprint: String?
        /// The family's end: a login lasts this long however often it is renewed (Auth0's "absolute lifetime").
        var expires: ContinuousClock.Instant
    }

    /// Why a refresh token was refused.
    enum Refusal: Error, Equatable {
        case unknown
        case expired
        case wrongClient
        /// The login is bound to a DPoP key and the refresh request's proof (if any) is from another key: the family
        /// is revoked, since the token is in the wrong hands.
        case wrongKey
        /// An already used token came back: the family is revoked.
        case reused
    }

    /// How long a login may be renewed.
    static let familyLifetime: Duration = .seconds(8 * 3_600)

    private struct State {
        var live: [String: Grant] = [:]
        /// Used tokens and their family, kept while the family could still be renewed, to recognise a replay.
        var used: [String: (family: String, expires: ContinuousClock.Instant)] = [:]
    }
    private let state = Mutex(State())

    /// A new family for a login, and its first token.
    func issue(for account: DevAccount, scopes: [String], clientID: String, keyThumbprint: String? = nil) -> String {
        let grant = Grant(
            family: DevIdentityProvider.randomToken(),
            account: account,
            scopes: scopes,
            clientID: clientID,
            keyThumbprint: keyThumbprint,
            expires: .now + Self.familyLifetime
        )
        let token = DevIdentityProvider.randomToken()
        state.withLock { state in
            let now = ContinuousClock.now
            state.live = state.live.filter { $0.value.expires > now }
            state.used = state.used.filter { $0.value.expires > now }
            state.live[token] = grant
        }
        return token
    }

    /// Retires `token` and returns its grant with the family's next token.
    func rotate(
        _ token: String,
        clientID: String,
        keyThumbprint: String? = nil
    ) -> Result<(token: String, grant: Grant), Refusal> {
        state.withLock { state in
            let now = ContinuousClock.now
            if let used = state.used[token] {
                state.live = state.live.filter { $0.value.family != used.family }
                return .failure(.reused)
            }
            guard let grant = state.live.removeValue(forKey: token) else { return .failure(.unknown) }
            state.used[token] = (grant.family, grant.expires)
            guard grant.expires > now else { return .failure(.expired) }
            guard grant.clientID == clientID else {
                // A token presented by another client is as good as stolen.
                state.live = state.live.filter { $0.value.family != grant.family }
                return .failure(.wrongClient)
            }
            if let bound = grant.keyThumbprint, bound != keyThumbprint {
                state.live = state.live.filter { $0.value.family != grant.family }
                return .failure(.wrongKey)
            }
            let next = DevIdentityProvider.randomToken()
            state.live[next] = grant
            return .success((next, grant))
        }
    }

    /// Live tokens of a family, for tests.
    func liveTokens(ofFamilyOf token: String) -> Int {
        state.withLock { state in
            guard let family = state.live[token]?.family ?? state.used[token]?.family else { return 0 }
            return state.live.values.filter { $0.family == family }.count
        }
    }
}

extension DevIdentityProvider {
    /// `grant_type=refresh_token`: a new access token and the family's next refresh token. With a `DPoP` proof
    /// (`binding`, its key's thumbprint), the new access token is bound to that key, as at login.
    func refresh(_ parameters: [String: String], boundTo binding: String? = nil) throws -> Response {
        guard let token = parameters["refresh_token"], !token.isEmpty, let clientID = parameters["client_id"] else {
            throw OAuthError(
                status: .badRequest,
                error: "invalid_request",
                description: "refresh_token and client_id are required"
            )
        }
        switch refreshTokens.rotate(token, clientID: clientID, keyThumbprint: binding) {
        case .success(let (next, grant)):
            let lifetime = Int(webTokenLifetime.components.seconds)
            let accessToken = minter.token(
                for: grant.account,
                scopes: grant.scopes,
                lifetime: webTokenLifetime,
                clientID: grant.clientID,
                boundTo: binding
            )
            return try .json(
                TokenResponse(
                    access_token: accessToken,
                    token_type: binding == nil ? "Bearer" : "DPoP",
                    expires_in: lifetime,
                    scope: grant.scopes.joined(separator: " "),
                    refresh_token: next
                ),
                headers: Self.noStore
            )
        case .failure(let refusal):
            let description =
                switch refusal {
                case .unknown: "Unknown or revoked refresh token"
                case .expired: "The login has expired; log in again"
                case .wrongClient: "The refresh token was issued to another client; its family is revoked"
                case .wrongKey:
                    "The refresh token is bound to a DPoP key; send a proof made with that key. Its family is revoked"
                case .reused: "The refresh token was already used; its family is revoked, log in again"
                }
            throw OAuthError(status: .forbidden, error: "invalid_grant", description: description)
        }
    }
}
