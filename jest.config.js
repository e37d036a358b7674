/** Two projects: `unit` (Pulumi mocks, pure functions; no root needed) and `lab` (real programs on lab hosts). */
const transform = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
const common = { testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"], roots: ["<rootDir>"], modulePathIgnorePatterns: ["<rootDir>/dist/"] };
module.exports = {
  projects: [
    { ...common, displayName: "unit", testMatch: ["**/*.test.ts"], testPathIgnorePatterns: ["/node_modules/", "\\.e2e\\.test\\.ts$"] },
    { ...common, displayName: "lab", testMatch: ["**/*.e2e.test.ts"], testPathIgnorePatterns: ["/node_modules/"] },
  ],
};
