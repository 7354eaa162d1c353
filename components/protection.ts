import * as pulumi from "@pulumi/pulumi";

/**
 * Resource options for objects that hold data (Databases, the StatefulSet whose volume holds PGDATA).
 *
 * Outside the test environment they are `protect`ed, so `pulumi destroy`, a rename or a replace-forcing
 * change stops with an error instead of dropping data (STANDARD defect 12), and `retainOnDelete`, so that
 * even after someone unprotects them, removing them from the program leaves the object in place. The test
 * environment is disposable: neither applies.
 */
export function dataProtection(protectData: boolean): pulumi.CustomResourceOptions {
    return protectData ? { protect: true, retainOnDelete: true } : {};
}
