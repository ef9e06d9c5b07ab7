package dev.procos.engine;

import jakarta.servlet.Filter;
import org.camunda.bpm.engine.rest.security.auth.ProcessEngineAuthenticationFilter;
import org.camunda.bpm.engine.rest.security.auth.impl.HttpBasicAuthenticationProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * HTTP Basic authentication on the REST API, the same switch as Camunda Run's
 * {@code camunda.bpm.run.auth.enabled} (env {@code CAMUNDA_BPM_RUN_AUTH_ENABLED=true}).
 * Without it the REST API is open.
 */
@Configuration(proxyBeanMethods = false)
@ConditionalOnProperty(prefix = "camunda.bpm.run.auth", name = "enabled", havingValue = "true")
public class RestAuthConfiguration {

  @Bean
  public FilterRegistrationBean<Filter> processEngineAuthenticationFilter(
      @Value("${spring.jersey.application-path:/engine-rest}") String restPath) {
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
