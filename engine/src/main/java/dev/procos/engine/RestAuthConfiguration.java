package dev.procos.engine;

import jakarta.servlet.Filter;
import java.util.Arrays;
import org.camunda.bpm.engine.rest.security.auth.ProcessEngineAuthenticationFilter;
import org.camunda.bpm.engine.rest.security.auth.impl.HttpBasicAuthenticationProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;
import org.springframework.core.type.AnnotatedTypeMetadata;

/**
 * HTTP Basic authentication on the REST API, the same switch as Camunda Run's {@code
 * camunda.bpm.run.auth.enabled} (env {@code CAMUNDA_BPM_RUN_AUTH_ENABLED=true}). Without it the
 * REST API is open, except with the {@code production} profile, where it is always on whatever
 * the switch says.
 */
@Configuration(proxyBeanMethods = false)
@Conditional(RestAuthConfiguration.Enabled.class)
public class RestAuthConfiguration {

  /** The Spring profile that forces REST authentication on. */
  public static final String PRODUCTION = "production";

  private static final Logger LOG = LoggerFactory.getLogger(RestAuthConfiguration.class);

  /** On when {@code camunda.bpm.run.auth.enabled} is true or the production profile is active. */
  static class Enabled implements Condition {
    @Override
    public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
      Environment env = context.getEnvironment();
      return production(env)
          || env.getProperty("camunda.bpm.run.auth.enabled", Boolean.class, false);
    }
  }

  static boolean production(Environment env) {
    return Arrays.asList(env.getActiveProfiles()).contains(PRODUCTION);
  }

  @Bean
  public FilterRegistrationBean<Filter> processEngineAuthenticationFilter(
      Environment env,
      @Value("${spring.jersey.application-path:/engine-rest}") String restPath) {
    if (production(env) && !env.getProperty("camunda.bpm.run.auth.enabled", Boolean.class, false)) {
      LOG.warn(
          "camunda.bpm.run.auth.enabled is false, but the production profile forces REST auth on");
    }
    FilterRegistrationBean<Filter> registration = new FilterRegistrationBean<>();
    registration.setName("camunda-auth");
    registration.setFilter(new ProcessEngineAuthenticationFilter());
    registration.setOrder(101); // same precedence as Camunda Run
    String base = restPath.endsWith("/") ? restPath.substring(0, restPath.length() - 1) : restPath;
    registration.addUrlPatterns(base + "/*");
    registration.addInitParameter(
        ProcessEngineAuthenticationFilter.AUTHENTICATION_PROVIDER_PARAM,
        HttpBasicAuthenticationProvider.class.getName());
    return registration;
  }
}
