package dev.procos.engine;

import static org.camunda.bpm.engine.authorization.Authorization.ANY;
import static org.camunda.bpm.engine.authorization.Authorization.AUTH_TYPE_GRANT;
import static org.camunda.bpm.engine.authorization.Groups.CAMUNDA_ADMIN;
import static org.camunda.bpm.engine.authorization.Groups.GROUP_TYPE_SYSTEM;
import static org.camunda.bpm.engine.authorization.Permissions.ALL;

import org.camunda.bpm.engine.AuthorizationService;
import org.camunda.bpm.engine.IdentityService;
import org.camunda.bpm.engine.ProcessEngine;
import org.camunda.bpm.engine.authorization.Resources;
import org.camunda.bpm.engine.identity.Group;
import org.camunda.bpm.engine.identity.User;
import org.camunda.bpm.engine.impl.persistence.entity.AuthorizationEntity;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/**
 * Keeps the configured admin user's password equal to the configured one
 * ({@code camunda.bpm.admin-user.password}, env {@code CAMUNDA_BPM_ADMINUSER_PASSWORD}).
 *
 * <p>Camunda's starter creates the admin user only when it is missing, so a password rotated in
 * the spec would never reach an existing database and the stack would lock itself out. This runs
 * once the engine is built (the starter has created a missing user by then) and before the web
 * server accepts requests: when the stored password differs it saves the configured one, and it
 * makes sure the user is in {@code camunda-admin} (creating the group with its ADMIN grants as the
 * starter does, should it be missing). It logs what it changed, never a password.
 */
@Component
public class AdminPasswordSync implements SmartInitializingSingleton {

  private static final Logger LOG = LoggerFactory.getLogger(AdminPasswordSync.class);

  private final ProcessEngine engine;
  private final String userId;
  private final String password;

  public AdminPasswordSync(
      ProcessEngine engine,
      @Value("${camunda.bpm.admin-user.id:}") String userId,
      @Value("${camunda.bpm.admin-user.password:}") String password) {
    this.engine = engine;
    this.userId = userId;
    this.password = password;
  }

  @Override
  public void afterSingletonsInstantiated() {
    if (userId.isBlank() || password.isEmpty()) {
      LOG.info("no admin user configured: admin password sync skipped");
      return;
    }
    IdentityService identity = engine.getIdentityService();
    User user = identity.createUserQuery().userId(userId).singleResult();
    if (user == null) {
      User created = identity.newUser(userId);
      created.setPassword(password);
      identity.saveUser(created);
      LOG.info("admin user '{}' was missing: created it with the configured password", userId);
    } else {
      // a user locked by failed logins fails checkPassword even with the right password
      identity.unlockUser(userId);
      if (!identity.checkPassword(userId, password)) {
        // (the failed check updated the user's login attempts: save over a fresh copy)
        user = identity.createUserQuery().userId(userId).singleResult();
        user.setPassword(password);
        identity.saveUser(user);
        // the check above counted as a failed login; do not leave the user throttled
        identity.unlockUser(userId);
        LOG.info("admin user '{}': password changed to the configured one", userId);
      } else {
        LOG.debug("admin user '{}': password already the configured one", userId);
      }
    }
    ensureAdminGroup(identity, engine.getAuthorizationService());
    if (identity.createUserQuery().userId(userId).memberOfGroup(CAMUNDA_ADMIN).count() == 0) {
      identity.createMembership(userId, CAMUNDA_ADMIN);
      LOG.info("admin user '{}': added to the group '{}'", userId, CAMUNDA_ADMIN);
    }
  }

  /** The {@code camunda-admin} group with ADMIN grants on every resource, as the starter makes. */
  private static void ensureAdminGroup(IdentityService identity, AuthorizationService auth) {
    if (identity.createGroupQuery().groupId(CAMUNDA_ADMIN).count() == 0) {
      Group group = identity.newGroup(CAMUNDA_ADMIN);
      group.setName("camunda BPM Administrators");
      group.setType(GROUP_TYPE_SYSTEM);
      identity.saveGroup(group);
      LOG.info("group '{}' was missing: created it", CAMUNDA_ADMIN);
    }
    for (Resources resource : Resources.values()) {
      long grants =
          auth.createAuthorizationQuery()
              .groupIdIn(CAMUNDA_ADMIN)
              .resourceType(resource)
              .resourceId(ANY)
              .count();
      if (grants == 0) {
        AuthorizationEntity grant = new AuthorizationEntity(AUTH_TYPE_GRANT);
        grant.setGroupId(CAMUNDA_ADMIN);
        grant.setResource(resource);
        grant.setResourceId(ANY);
        grant.addPermission(ALL);
        auth.saveAuthorization(grant);
      }
    }
  }
}
